"""The confound audit: its math on per-video rows, identity overlap with dlib's descriptor on real videos, and
ConfoundCheck in a real TFX run (FaceExampleGen -> ConfoundCheck) failing a confounded set and passing a
matched one."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from confound_sets import LEAK, SOURCES, make_set
from media import IN_MEMORY

from skyhawk.confound import audit, verdict
from skyhawk.nuisance import NUISANCE_FEATURES, media_facts, video_rows


def _rows(n: int, seed: int, width_of=lambda label, i: 256.0) -> tuple[list[dict], list[int], list[str]]:
    rng = np.random.default_rng(seed)
    rows, labels, groups = [], [], []
    for i in range(n):
        label = i % 2
        row = {name: float(rng.uniform(1, 100)) for name in NUISANCE_FEATURES}
        row["frame_width"] = width_of(label, i)
        rows.append({**row, "codec": "h264"})
        labels.append(label)
        groups.append(f"g{i // 2}")  # a real and a fake per group
    return rows, labels, groups


def test_audit_names_the_confound_and_gates_on_the_cross_validated_auc():
    rows, labels, groups = _rows(24, 0, lambda label, i: 640.0 if label else 320.0 + i)
    result = audit(rows, labels, groups)
    assert result.features[0].name == "frame_width" and result.features[0].auc == 1.0
    assert result.features[0].direction == "higher in fakes"
    assert result.combined_auc > 0.9 and result.judged and result.n_groups == 12
    assert verdict(result, 0.65, 0.8)[0] == "fail"
    assert "frame_width 1.00 (higher in fakes)" in verdict(result, 0.65, 0.8)[1]
    assert "frame_width" in result.table() and json.dumps(result.to_dict())
    noise = audit(*_rows(24, 1))
    assert noise.combined_auc < 0.8 and verdict(noise, 0.65, 0.8)[0] in ("ok", "warn")
    assert ("codec", "constant: h264") in noise.dropped


def test_audit_drops_missing_features_and_refuses_nothing():
    rows, labels, groups = _rows(12, 2)
    rows[3]["fps"] = math.nan
    del rows[4]["jpeg_quality"]
    rows[5]["face_side_px"] = None
    result = audit(rows, labels, groups)
    dropped = dict(result.dropped)
    assert dropped["fps"] == "missing in 1 of 12 videos" and "jpeg_quality" in dropped and "face_side_px" in dropped
    assert dropped["frame_width"] == "constant: 256"
    assert {f.name for f in result.features} == {"frame_height", "bytes_per_pixel_second", "frame_gap"}
    one_label = audit(rows[:1], labels[:1], groups[:1])
    assert one_label.combined_auc is None and not one_label.judged and "one label" in one_label.note
    small = audit(rows[:4], labels[:4], groups[:4])
    assert not small.judged and verdict(small, 0.65, 0.8)[0] == "not judged"
    with pytest.raises(ValueError, match="differ in length"):
        audit(rows, labels[:3], groups)


def test_video_rows_take_each_videos_median():
    faces = [{"video_id": "a", "label": 1, "group_id": "g", "codec": "h264", "face_side_px": s, "frame_width": 640.0}
             for s in (10.0, 30.0, 20.0)] + [{"video_id": "b", "label": 0, "group_id": "h", "face_side_px": -1.0}]
    rows = video_rows(faces)
    assert rows["a"]["face_side_px"] == 20.0 and rows["a"]["faces"] == 3 and rows["a"]["codec"] == "h264"
    assert math.isnan(rows["b"]["face_side_px"]) and math.isnan(rows["a"]["fps"])  # unknown (-1) and absent


def test_media_facts_of_a_video_and_a_photo(shared_media: Path, real_faces: list[Path], tmp_path: Path):
    video = shared_media / "real_videos" / SOURCES["fom00"]
    facts = media_facts(str(video), 8)
    assert facts["frame_width"] == facts["frame_height"] == 256 and facts["fps"] == 30 and facts["codec"] == "h264"
    assert facts["frame_gap"] == pytest.approx((facts["frame_count"] - 1) / 7, abs=1)
    assert facts["bytes_per_pixel_second"] == pytest.approx(
        video.stat().st_size / (256 * 256 * facts["frame_count"] / 30), rel=1e-6)
    img = cv2.imread(str(real_faces[0]))
    for q in (40, 90):
        cv2.imwrite(str(tmp_path / f"q{q}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, q])
        photo = media_facts(str(tmp_path / f"q{q}.jpg"))
        assert photo["jpeg_quality"] == q and photo["codec"] == "jpeg" and photo["fps"] == 0
    cv2.imwrite(str(tmp_path / "p.png"), img)
    assert media_facts(str(tmp_path / "p.png"))["jpeg_quality"] == 0


def test_identity_overlap_finds_one_person_across_videos_and_not_others(shared_media: Path, tmp_path: Path):
    """A real video, its SBI fake and another clip of the same person are one person; other people are not."""
    from skyhawk.config import ExtractConfig
    from skyhawk.faces import FaceDetector, LandmarkPredictor, sample_faces
    from skyhawk.identity import FaceDescriber, identity_overlap
    from skyhawk.synth.folder import synthesize_folder

    videos = shared_media / "real_videos"
    synthesize_folder(str(videos / SOURCES[LEAK]), str(tmp_path / "fake"), "sbi", frames=12)
    fake = next((tmp_path / "fake" / "fake").glob("*.mp4"))
    cfg = ExtractConfig(frames_per_video=3)
    detector, landmarks, describer = FaceDetector(), LandmarkPredictor(), FaceDescriber()

    def descriptors(path: Path) -> np.ndarray:
        out = []
        for s in sample_faces(str(path), cfg, detector):
            rgb = cv2.cvtColor(s.frame, cv2.COLOR_BGR2RGB)
            out += [describer(rgb, f.box(), landmarks(s.frame, f) if i % 2 else None)  # 68 points or 5
                    for i, f in enumerate(s.faces[:1] * 2)]
        return np.stack(out)

    train = {"fom10": descriptors(videos / SOURCES[LEAK]), "fom00": descriptors(videos / SOURCES["fom00"])}
    other = {"fom10_sbi": descriptors(fake),
             "fom10_backward": descriptors(videos / "AliaksandrSiarohin__first-order-model__demo_old__10-backward.mp4"),
             "lp_d0": descriptors(videos / SOURCES["lp_d0"]), "fom04": descriptors(videos / SOURCES["fom04"])}
    pairs = identity_overlap(train, other)
    assert {(t, o) for t, o, _ in pairs} == {("fom10", "fom10_sbi"), ("fom10", "fom10_backward")}, pairs
    assert all(d < 0.6 for *_, d in pairs)


def _run_check(root: Path, manifest: Path, tmp: Path):
    """FaceExampleGen -> ConfoundCheck with the real LocalDagRunner; returns (error or None, confound.json)."""
    from tfx import v1 as tfx
    from tfx.orchestration import metadata
    from tfx.orchestration import pipeline as tfx_pipeline

    from components.confound import CONFOUND_FILE, ConfoundCheck
    from components.example_gen import FaceExampleGen
    from skyhawk.config import ExtractConfig

    cfg = ExtractConfig(frames_per_video=3, image_size=112, labels=f"csv:{manifest}")
    gen = FaceExampleGen(str(root), cfg)
    check = ConfoundCheck(examples=gen.outputs["examples"], margin=cfg.margin)
    p = tfx_pipeline.Pipeline(
        pipeline_name="confound-test", pipeline_root=str(tmp / "root"), components=[gen, check],
        metadata_connection_config=metadata.sqlite_metadata_connection_config(str(tmp / "mlmd.sqlite")),
        beam_pipeline_args=IN_MEMORY)
    error = None
    try:
        tfx.orchestration.LocalDagRunner().run(p)
    except Exception as e:  # noqa: BLE001 - the run's failure is what is tested
        error = e
    found = list((tmp / "root" / "ConfoundCheck").rglob(CONFOUND_FILE))  # none after a failure (TFX deletes it)
    assert len(found) == (error is None), (found, error)
    examples = next((tmp / "root" / "FileBasedExampleGen" / "examples").iterdir())
    return error, json.loads(found[0].read_text()) if found else None, examples


@pytest.mark.e2e
def test_confound_check_fails_a_confounded_set_and_passes_a_matched_one(shared_media: Path, tmp_path: Path):
    """Fakes at 384 px and reals at 192 px fail the run; the same videos all at 256 px pass. One person's
    real video in train and its fake in eval is the one identity overlap found."""
    import tensorflow as tf

    from skyhawk import features

    bad = tmp_path / "confounded"
    error, _, _ = _run_check(bad, make_set(shared_media, bad, 192, 384), tmp_path / "bad")
    assert type(error).__name__ == "ConfoundError", error
    line = str(error)
    assert line.startswith("ConfoundCheck failed (gate.confound_fail 0.8): train: nuisance AUC ") and "\n" not in line
    auc = float(line.split("train: nuisance AUC ")[1].split()[0])
    assert auc >= 0.8 and "eval:" not in line  # eval (2 sources + a fake) is too small to judge
    assert "face_side_px 1.00 (higher in fakes)" in line and "frame_width 1.00 (higher in fakes)" in line

    good = tmp_path / "matched"
    error, result, examples = _run_check(good, make_set(shared_media, good, 256, 256), tmp_path / "good")
    assert error is None
    train = result["splits"]["train"]
    assert train["judged"] and train["status"] == "ok" and train["combined_auc"] < 0.65, train["table"]
    assert (train["n_real"], train["n_fake"]) == (6, 5)
    assert {d["feature"] for d in train["dropped"]} >= {"frame_width", "frame_height", "codec", "jpeg_quality"}
    pairs = {(p["train_video"], p["video"]) for p in result["identity"]["pairs"]}
    assert pairs == {(f"real/{LEAK}", f"fake/{LEAK}_sbi")}, result["identity"]
    raw = next(iter(tf.data.TFRecordDataset(sorted(map(str, examples.glob("Split-train/*"))), "GZIP")))
    ex = tf.io.parse_single_example(raw, features.parse_spec())
    assert ex["frame_width"] == 256 and ex["fps"] > 0 and 60 < ex["face_side_px"] < 256
    assert ex["codec"].numpy() == b"fmp4" and ex["jpeg_quality"] == 0 and ex["frame_gap"] > 0
