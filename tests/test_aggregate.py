"""Frame -> video aggregation (mean, DFDC confident rule) and the video-level metric helpers."""
from __future__ import annotations

import math

import pytest

from skyhawk import aggregate


def test_mean_and_no_face():
    assert aggregate.video_score([0.2, 0.4, 0.9]) == pytest.approx(0.5)
    assert aggregate.video_score([]) == aggregate.NO_FACE_SCORE == 0.5


def test_confident_rule():
    # 12 confident-fake frames out of 20 (> 11 and > 20 / 2.5 = 8): only those are averaged.
    scores = [0.9] * 12 + [0.1] * 8
    assert aggregate.video_score(scores, "confident") == pytest.approx(0.9)
    assert aggregate.video_score(scores, "mean") == pytest.approx(0.58)
    # 11 high frames is not "more than 11": falls through to the real rule, then the mean.
    assert aggregate.video_score([0.9] * 11 + [0.5] * 5, "confident") == pytest.approx((0.9 * 11 + 2.5) / 16)
    # More than 90 % confidently real: average only those.
    assert aggregate.video_score([0.1] * 19 + [0.7], "confident") == pytest.approx(0.1)
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate.video_score([0.5], "median")


def test_auc_log_loss_accuracy():
    assert aggregate.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert aggregate.auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert math.isnan(aggregate.auc([1, 1], [0.2, 0.3]))
    # Clipped to [0.01, 0.99]: a confident wrong answer costs -log(0.01), not infinity.
    assert aggregate.log_loss([1], [0.0]) == pytest.approx(-math.log(0.01))
    assert aggregate.log_loss([0, 1], [0.2, 0.7]) == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)
    assert aggregate.accuracy([0, 1, 1], [0.4, 0.6, 0.3], 0.5) == pytest.approx(2 / 3)


def test_bootstrap_auc_ci_resamples_videos_with_a_fixed_seed():
    import numpy as np

    rng = np.random.default_rng(3)
    y = np.array([0] * 40 + [1] * 40)
    s = np.concatenate([rng.normal(0.4, 0.15, 40), rng.normal(0.6, 0.15, 40)])
    lo, hi = aggregate.bootstrap_auc_ci(y, s)
    point = aggregate.auc(y, s)
    assert 0.5 < lo < point < hi < 1.0
    assert (lo, hi) == aggregate.bootstrap_auc_ci(y, s)  # fixed seed: the same interval every time
    # by hand: the same resamples of the videos, percentiles 2.5 / 97.5
    draws, gen = [], np.random.default_rng(aggregate.BOOTSTRAP_SEED)
    while len(draws) < 200:
        idx = gen.integers(0, y.size, y.size)
        if len(set(y[idx])) == 2:
            draws.append(aggregate.auc(y[idx], s[idx]))
    assert aggregate.bootstrap_auc_ci(y, s, resamples=200) == pytest.approx(tuple(np.percentile(draws, [2.5, 97.5])))
    # more videos, a narrower interval; one class: no interval
    wide = aggregate.bootstrap_auc_ci(y[::4], s[::4])
    assert wide[1] - wide[0] > hi - lo
    assert aggregate.bootstrap_auc_ci([1, 1, 1], [0.2, 0.5, 0.9]) is None
