"""ConfoundCheck: the confound audit of the example gen's output, per split, before anything is trained.

For each split (train, eval, test when present) the faces' nuisance facts (``skyhawk.features``: frame size,
fps, bitrate proxy, codec, face side, frame gap, JPEG quality) are aggregated per video
(``skyhawk.nuisance.video_rows``) and audited (``skyhawk.confound.audit``): how well each alone, and all of
them together (group-wise cross-validated logistic regression), predict the label. It also describes
``FACES_PER_VIDEO`` faces of every source video (synthetic fakes share their source's face) with dlib's face
descriptor and lists the videos of another split that show a person of the train split
(``skyhawk.identity``): group-disjoint splits can still share people.

``confound.json`` holds all of it. A judged split whose nuisance AUC reaches ``gate.confound_warn`` is a
warning (on the run report); one reaching ``gate.confound_fail`` fails the run: the executor logs each
split's table at ERROR (TFX deletes a failed execution's output folder) and raises ``ConfoundError`` with
one line naming the split, the AUC and the leading features.
The Trainer runs after this component, so a confounded data set is never trained on.
"""
# NOTE: no ``from __future__ import annotations``: TFX's function-component parser needs real annotations.

import functools
import logging
from typing import Any, Dict, List

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.types.artifact import Artifact

CONFOUND_FILE = "confound.json"
SPLIT_ORDER = ("train", "eval", "test")


class SkyhawkConfound(Artifact):
    """A directory holding confound.json: the per-split confound audit and the identity overlap."""

    TYPE_NAME = "skyhawk.Confound"  # KFP v2 wants <namespace>.<Title>


class ConfoundError(RuntimeError):
    """The label is predictable from capture facts alone (one line)."""


def read_split(files: List[str], faces_per_video: int) -> tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """(faces' nuisance rows, {video_id: [(jpeg, landmarks or None)] of up to faces_per_video faces, spread over
    the video}) from one split's gzipped TFRecords. Synthetic fakes (method sbi/swap) give no faces to describe:
    they show their source video's person. Two passes, so that only the chosen crops are ever held in memory."""
    import numpy as np
    import tensorflow as tf

    from skyhawk import features
    from skyhawk.nuisance import CODEC, NUISANCE_FEATURES

    def records():
        return enumerate(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())

    rows: List[Dict[str, Any]] = []
    faces: Dict[str, List[tuple[int, int]]] = {}  # video -> (frame index, record number) of its real faces
    for n, raw in records():
        one = functools.partial(_first, tf.train.Example.FromString(raw).features.feature)
        vid = one(features.VIDEO_ID, "bytes_list", b"").decode()
        method = one(features.METHOD, "bytes_list", b"real").decode()
        rows.append({"video_id": vid, "label": int(one(features.LABEL, "int64_list", -1)),
                     "group_id": one(features.GROUP_ID, "bytes_list", b"").decode(), "method": method,
                     CODEC: one(CODEC, "bytes_list", b"").decode(),
                     **{k: float(one(k, "float_list", -1.0)) for k in NUISANCE_FEATURES}})
        if method not in ("sbi", "swap"):
            faces.setdefault(vid, []).append((int(one(features.FRAME_INDEX, "int64_list", 0)), n))
    wanted: Dict[int, str] = {}
    for vid, found in faces.items():
        found.sort()
        wanted.update({found[round(i)][1]: vid
                       for i in np.linspace(0, len(found) - 1, min(faces_per_video, len(found)))})
    chosen: Dict[str, List[tuple[bytes, Any]]] = {}
    for n, raw in records() if wanted else ():
        if n in wanted:
            f = tf.train.Example.FromString(raw).features.feature
            lms = np.asarray(f[features.LANDMARKS].float_list.value, np.float32) if features.LANDMARKS in f else None
            lms = lms.reshape(-1, 2) if lms is not None and lms.size == 2 * features.N_LANDMARKS and lms.min() >= 0 \
                else None
            chosen.setdefault(wanted[n], []).append((_first(f, features.IMAGE, "bytes_list", b""), lms))
    return rows, chosen


def _first(feature: Any, name: str, kind: str, default: Any) -> Any:
    """The first value of a tf.Example feature map's entry (``kind``: bytes_list | int64_list | float_list)."""
    values = getattr(feature[name], kind).value if name in feature else []
    return values[0] if len(values) else default


def describe(chosen: Dict[str, Any], margin: float, describer: Any) -> Dict[str, Any]:
    """{video_id: (n, 128) descriptors} of the chosen face crops (decoded JPEGs)."""
    import cv2
    import numpy as np

    out = {}
    for vid, faces in chosen.items():
        descs = []
        for jpeg, lms in faces:
            img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                continue
            size = img.shape[0]
            side = size / margin  # the detector box inside the crop (square_box enlarged it by margin)
            box = ((size - side) / 2, (size - side) / 2, (size + side) / 2, (size + side) / 2)
            descs.append(describer(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), box, lms))
        if descs:
            out[vid] = np.stack(descs)
    return out


@component
def ConfoundCheck(
    examples: InputArtifact[standard_artifacts.Examples],
    confound: OutputArtifact[SkyhawkConfound],
    training_examples: InputArtifact[List[standard_artifacts.Examples]] = None,
    confound_warn: Parameter[float] = 0.65,
    confound_fail: Parameter[float] = 0.80,
    margin: Parameter[float] = 1.3,
    identity: Parameter[int] = 1,
    seed: Parameter[int] = 0,
) -> None:
    """Writes <confound.uri>/confound.json; raises ConfoundError when a split fails the audit.

    The train split is audited as the Trainer reads it: this span's, pooled with the train splits of the
    window's earlier spans (``training_examples``, as for RunReport); the other splits are this span's."""
    from tfx.types import artifact_utils

    from skyhawk import fileio
    from skyhawk.confound import audit, verdict
    from skyhawk.identity import FACES_PER_VIDEO, SAME_PERSON, FaceDescriber, identity_overlap
    from skyhawk.nuisance import video_rows

    names = artifact_utils.decode_split_names(examples.split_names)
    splits = [s for s in SPLIT_ORDER if s in names] + sorted(s for s in names if s not in SPLIT_ORDER)
    result: Dict[str, Any] = {"thresholds": {"warn": confound_warn, "fail": confound_fail}, "splits": {},
                              "train_spans": 1 + len(training_examples or [])}
    chosen: Dict[str, Any] = {}
    for split in splits:
        sources = [examples, *(training_examples or [])] if split == "train" else [examples]
        faces, chosen[split] = [], {}
        for a in sources:  # spans may reuse file names: a pooled video is span-N/<video id>
            if split not in artifact_utils.decode_split_names(a.split_names):
                continue
            files = fileio.glob(fileio.join(artifact_utils.get_split_uri([a], split), "*"))
            rows, picks = read_split(files, FACES_PER_VIDEO)
            prefix = f"span-{a.span}/" if len(sources) > 1 else ""
            faces += [{**r, "video_id": prefix + r["video_id"]} for r in rows]
            chosen[split].update({prefix + v: c for v, c in picks.items()})
        rows = list(video_rows(faces).values())
        audited = audit(rows, [r["label"] for r in rows], [r["group_id"] for r in rows], seed=seed)
        status, line = verdict(audited, confound_warn, confound_fail)
        result["splits"][split] = {**audited.to_dict(), "status": status, "summary": line, "table": audited.table()}
    overlap: Dict[str, Any] = {"checked": bool(identity) and "train" in chosen, "threshold": SAME_PERSON,
                               "faces_per_video": FACES_PER_VIDEO, "pairs": []}
    if overlap["checked"]:
        describer = FaceDescriber()
        descriptors = {s: describe(c, margin, describer) for s, c in chosen.items()}
        for split in splits[1:]:
            overlap["pairs"] += [{"train_video": t, "split": split, "video": o, "distance": d}
                                 for t, o, d in identity_overlap(descriptors["train"], descriptors[split])]
        overlap["videos_described"] = {s: len(d) for s, d in descriptors.items()}
        people = {p["video"] for p in overlap["pairs"]}
        overlap["summary"] = (f"{len(people)} videos outside train show a person of the train split "
                              f"({len(overlap['pairs'])} video pairs at descriptor distance < {SAME_PERSON})"
                              if people else "no person of the train split in another split")
    result["identity"] = overlap
    statuses = [v["status"] for v in result["splits"].values()]
    result["status"] = next((s for s in ("fail", "warn") if s in statuses), "ok")
    failing = [f"{s}: {v['summary']}" for s, v in result["splits"].items() if v["status"] == "fail"]
    result["summary"] = "; ".join(f"{s}: {v['summary']}" for s, v in result["splits"].items())
    confound.set_string_custom_property("status", result["status"])
    fileio.write_json(fileio.join(confound.uri, CONFOUND_FILE), result, default=str)
    if failing:  # TFX deletes a failed execution's outputs: the tables go to the log, the verdict to the error
        for split, v in result["splits"].items():
            logging.getLogger(__name__).error("confound audit of the %s split:\n%s", split, v["table"])
        raise ConfoundError(f"ConfoundCheck failed (gate.confound_fail {confound_fail:g}): {'; '.join(failing)}")


def load_confound(uri: str) -> Dict[str, Any]:
    """confound.json of a SkyhawkConfound artifact ({} when absent)."""
    from skyhawk import fileio

    try:
        return fileio.read_json(fileio.join(uri, CONFOUND_FILE))
    except FileNotFoundError:
        return {}
