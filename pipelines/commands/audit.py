"""``skyhawk audit``: the confound audit of a labelled folder, without training (``skyhawk.confound``).

Each video's header gives its capture facts (``skyhawk.nuisance.media_facts``); a few sampled frames give
its faces (the extraction's own sampling and detector, ``skyhawk.faces.sample_faces``), hence the face size
in source pixels. Videos that fail or show no face are left out (and counted): extraction drops them too.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from skyhawk.config import ExtractConfig
from skyhawk.labels import LABEL_HELP

DEFAULT_FRAMES = 8


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit", help="confound audit of a labelled folder: how well capture facts alone predict the label",
        description="Samples a few frames per video, finds the faces and prints how well each nuisance feature "
                    "(frame size, fps, bitrate, codec, face size, frame gap, JPEG quality) alone, and all of "
                    "them together (group-wise cross-validated logistic regression), predict the label. "
                    "Repeat --input/--labels to audit several folders as one set.")
    p.add_argument("--input", action="append", required=True, metavar="DIR",
                   help="a labelled folder (repeatable, each with its own --labels)")
    p.add_argument("--labels", action="append", default=None, metavar="SPEC",
                   help=f"{LABEL_HELP} (default folders; one per --input, or one for all)")
    p.add_argument("--frames", dest="frames_per_video", type=int, default=DEFAULT_FRAMES,
                   help=f"frames sampled per video (default {DEFAULT_FRAMES}); frame_gap is measured at this N")
    p.add_argument("--seed", type=int, default=0, help="seed of the cross-validation shuffles (default 0)")
    p.add_argument("--json", action="store_true", help="print the audit and the per-video rows as JSON")
    p.set_defaults(func=audit_command)


def _sources(args: argparse.Namespace) -> list[tuple[str, str]]:
    labels = args.labels or ["folders"]
    if len(labels) == 1:
        labels = labels * len(args.input)
    if len(labels) != len(args.input):
        raise ValueError(f"give one --labels per --input (or one for all): {len(args.input)} inputs, "
                         f"{len(labels)} label specs")
    return list(zip(args.input, labels, strict=True))


def audit_folders(sources: list[tuple[str, str]], cfg: ExtractConfig, seed: int = 0,
                  progress: bool = False) -> dict[str, Any]:
    """{"audit": ConfoundAudit dict, "table": text, "videos": per-video rows, "left_out": [{video_id, reason}]}
    for the labelled videos of (folder, label spec) sources, sampled and cropped as ``cfg`` says."""
    from skyhawk import datasets
    from skyhawk.confound import audit
    from skyhawk.faces import FaceDetector, sample_faces
    from skyhawk.nuisance import CODEC, face_facts, media_facts, video_rows
    from skyhawk.video import VideoError, local_copy

    frames = cfg.frames_per_video
    detector = FaceDetector.from_config(cfg)
    faces: list[dict[str, Any]] = []
    left_out: list[dict[str, str]] = []
    items = []
    for root, labels in sources:
        found = datasets.discover(root, labels)
        if not found:
            raise ValueError(f"no video or photo files under {root} for labels {labels!r}")
        prefix = os.path.basename(os.path.normpath(root)) + ":" if len(sources) > 1 else ""
        items += [(prefix, it) for it in found]
    for prefix, it in items:
        vid = prefix + it.video_id
        if it.error:
            left_out.append({"video_id": vid, "reason": it.error})
            continue
        try:
            with local_copy(it.uri) as path:
                facts = media_facts(path, frames)
                boxes = [f.box() for s in sample_faces(path, cfg, detector) for f in s.faces]
        except VideoError as e:
            left_out.append({"video_id": vid, "reason": str(e)})
            continue
        if not boxes:
            left_out.append({"video_id": vid, "reason": f"no face in {frames} sampled frames"})
        faces += [{"video_id": vid, "label": it.label, "group_id": prefix + it.group_id, "method": it.method,
                   CODEC: facts[CODEC], **face_facts(facts, box)} for box in boxes]
        if progress:
            print(f"skyhawk audit: {vid} faces={len(boxes)}", file=sys.stderr, flush=True)
    rows = list(video_rows(faces).values())  # videos without a face have no face rows: left out above
    result = audit(rows, [r["label"] for r in rows], [r["group_id"] for r in rows], seed=seed)
    return {"audit": result.to_dict(), "table": result.table(), "videos": rows, "left_out": left_out,
            "result": result}


def audit_command(args: argparse.Namespace) -> int:
    from pipelines.commands.options import FieldFlag, config_from_flags
    from skyhawk.config import GateConfig
    from skyhawk.confound import verdict
    from skyhawk.registry_layout import finite_or_none

    cfg = config_from_flags(ExtractConfig, args, (FieldFlag("--frames", "frames_per_video"),))  # checked there
    out = audit_folders(_sources(args), cfg, args.seed, progress=sys.stderr.isatty())
    gate = GateConfig()
    status, line = verdict(out.pop("result"), gate.confound_warn, gate.confound_fail)
    out["verdict"] = {"status": status, "summary": line}
    if args.json:
        print(json.dumps(finite_or_none(out), indent=2, sort_keys=True, default=str))
        return 0
    print(out["table"])
    print(f"verdict ({status}; warn at {gate.confound_warn:g}, fail at {gate.confound_fail:g}): {line}")
    if out["left_out"]:
        print(f"left out: {len(out['left_out'])} videos (failed or no face): "
              + "; ".join(f"{r['video_id']}: {r['reason']}" for r in out["left_out"][:5])
              + (" ..." if len(out["left_out"]) > 5 else ""))
    return 0
