"""Labelled real/fake sets made from the shared real videos for the confound tests: confounded or matched.

Each source video gives a real clip (its first frames, resized to a square side and written with OpenCV) and
an SBI fake of that clip made by the project's own synthesizer (``skyhawk.synth.folder``); the fake is made
from a clip at the fake side, so ``fake_side != real_side`` confounds the label with the frame and face size.
``labels.csv`` gives a real and its fake one group and forces the splits: LEAK's real is in train and its
fake (its own group) in eval, so one person is on both sides of the split.
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2

SOURCES = {  # short name -> ../shared/media/real_videos file; one person each
    "fom00": "AliaksandrSiarohin__first-order-model__demo_old__00.mp4",
    "fom04": "AliaksandrSiarohin__first-order-model__demo_old__04.mp4",
    "fom08": "AliaksandrSiarohin__first-order-model__demo_old__08.mp4",
    "fom10": "AliaksandrSiarohin__first-order-model__demo_old__10.mp4",
    "lp_d0": "KwaiVGI__LivePortrait__assets__examples__driving__d0.mp4",
    "lp_d1": "KwaiVGI__LivePortrait__assets__examples__driving__d1.mp4",
    "lp_d5": "KwaiVGI__LivePortrait__assets__examples__driving__d5.mp4",
    "lp_d10": "KwaiVGI__LivePortrait__assets__examples__driving__d10.mp4",
}
EVAL_SOURCES = ("lp_d5", "lp_d10")
LEAK = "fom10"  # real in train, its fake in eval
FRAMES = 12


def _clips(media: Path, out: Path, side: int) -> None:
    from skyhawk.video import read_frames, write_video

    for short, name in SOURCES.items():
        frames, fps = read_frames(str(media / "real_videos" / name), FRAMES)
        write_video(str(out / f"{short}.mp4"), [cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA)
                                                for f in frames], fps)


def make_set(media: Path, root: Path, real_side: int, fake_side: int) -> Path:
    """root/real/*.mp4, root/fake/*_sbi.mp4 and root/labels.csv (path, label, group, split); returns the CSV."""
    from skyhawk.synth.folder import synthesize_folder

    _clips(media, root / "real", real_side)
    source = root / "fake_source"
    _clips(media, source, fake_side)
    report = synthesize_folder(str(source), str(root / "synth"), "sbi", frames=FRAMES)
    assert not report.failed, report.failed
    (root / "synth" / "fake").rename(root / "fake")
    shutil.rmtree(root / "synth")
    shutil.rmtree(source)
    manifest = root / "labels.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "group", "split"])
        for short in SOURCES:
            split = "eval" if short in EVAL_SOURCES else "train"
            w.writerow([f"real/{short}.mp4", "real", short, split])
            leak = short == LEAK
            w.writerow([f"fake/{short}_sbi.mp4", "fake", f"{short}-fake" if leak else short,
                        "eval" if leak else split])
    return manifest
