"""The confound audit: how well capture and encoding facts alone (``skyhawk.nuisance``) predict the label.

``audit`` works on one row per video (``nuisance.video_rows``):

- each numeric nuisance feature alone: its label AUC (0.5: no information) and its strength
  max(AUC, 1 - AUC), with the direction (higher or lower in fakes); the codec alone is scored by the fake
  share of its codec among the *other* groups' videos (leave-one-group-out), so a codec seen once tells nothing;
- all of them together: a logistic regression (balanced classes) on the standardised log1p of the numeric
  features plus the codec one-hot, cross-validated by groups (a video's group, e.g. a real and the fakes made
  from it, is never in both the fitted and the scored part): ``FOLDS`` folds of a shuffled group split,
  ``SHUFFLES`` shuffles; the AUC of the pooled held-out scores, mean and sd over the shuffles.

A feature with a missing value in any row, or the same value in every row, is dropped (and listed). A set
too small to judge (fewer than ``MIN_PER_CLASS`` videos of a label or ``MIN_GROUPS`` groups) gets the
numbers but ``judged`` is False: gates never fail on it.

``identity_overlap`` finds the same person on both sides of a split with dlib's face descriptor
(``skyhawk.identity``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from skyhawk.aggregate import auc as label_auc
from skyhawk.identity import identity_overlap  # noqa: F401  (re-exported: one audit module for callers)
from skyhawk.nuisance import CODEC, NUISANCE_FEATURES

FOLDS = 5
SHUFFLES = 10
MIN_PER_CLASS = 4
MIN_GROUPS = 3


@dataclass(frozen=True)
class FeatureAUC:
    """One nuisance feature alone: its label AUC, strength max(auc, 1 - auc) and direction."""

    name: str
    auc: float
    strength: float
    direction: str  # "higher in fakes" | "lower in fakes" | "no difference"


@dataclass(frozen=True)
class ConfoundAudit:
    """The audit of one labelled set of videos (``audit``)."""

    n_videos: int
    n_real: int
    n_fake: int
    n_groups: int
    features: tuple[FeatureAUC, ...]  # strongest first
    combined_auc: float | None  # group-CV logistic regression on every kept feature (None: not computable)
    combined_sd: float | None
    combined_features: tuple[str, ...]
    folds: int
    shuffles: int
    dropped: tuple[tuple[str, str], ...]  # (feature, why)
    judged: bool  # large enough to gate on
    note: str = ""

    @property
    def strength(self) -> float:
        """The gated number: the combined group-CV AUC (0.5 when it could not be computed)."""
        return self.combined_auc if self.combined_auc is not None else 0.5

    def leading(self, at: float) -> list[FeatureAUC]:
        """Features whose strength alone reaches ``at``, strongest first."""
        return [f for f in self.features if f.strength >= at]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["features"] = [asdict(f) for f in self.features]
        out["dropped"] = [{"feature": n, "reason": r} for n, r in self.dropped]
        out["combined_features"] = list(self.combined_features)
        out["strength"] = self.strength
        return out

    def table(self) -> str:
        """The audit as a text table."""
        lines = [f"nuisance audit: {self.n_videos} videos ({self.n_real} real, {self.n_fake} fake) "
                 f"in {self.n_groups} groups",
                 f"{'feature':24s} {'AUC':>6s} {'strength':>8s}  direction"]
        lines += [f"{f.name:24s} {f.auc:6.3f} {f.strength:8.3f}  {f.direction}" for f in self.features]
        if self.combined_auc is not None:
            lines.append(f"{'all together':24s} {self.combined_auc:6.3f} {'':8s}  group-CV logistic regression, "
                         f"{self.folds} folds x {self.shuffles} shuffles, sd {self.combined_sd:.3f}")
        else:
            lines.append(f"{'all together':24s} {'n/a':>6s}")
        if self.dropped:
            lines.append("dropped: " + ", ".join(f"{n} ({r})" for n, r in self.dropped))
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def _direction(auc: float) -> str:
    return "higher in fakes" if auc > 0.5 else "lower in fakes" if auc < 0.5 else "no difference"


def _column(rows: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    def num(v: Any) -> float:
        try:
            return float(v)
        except (TypeError, ValueError):
            return math.nan

    return np.array([num(r.get(name)) for r in rows], dtype=np.float64)


def _codec_scores(codecs: Sequence[str], y: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """Per video: the fake share of its codec among the other groups' videos (0.5 when none)."""
    out = np.full(len(codecs), 0.5)
    for i, (c, g) in enumerate(zip(codecs, groups, strict=True)):
        same = [y[j] for j in range(len(codecs)) if codecs[j] == c and groups[j] != g]
        if same:
            out[i] = float(np.mean(same))
    return out


def _group_cv_auc(x: np.ndarray, y: np.ndarray, groups: Sequence[str], seed: int
                  ) -> tuple[float | None, float | None, int]:
    """(mean, sd) over shuffles of the pooled held-out AUC of a balanced logistic regression, and the folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    names = sorted(set(groups))
    folds = min(FOLDS, len(names))
    if folds < 2:
        return None, None, folds
    index = {g: i for i, g in enumerate(names)}
    g = np.array([index[v] for v in groups])
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(SHUFFLES):
        fold_of = np.empty(len(names), dtype=np.int64)
        fold_of[rng.permutation(len(names))] = np.arange(len(names)) % folds
        fold = fold_of[g]
        scores = np.full(len(y), np.nan)
        for f in range(folds):
            fit, held = fold != f, fold == f
            if np.unique(y[fit]).size < 2:
                continue  # this fold's fitted part holds one label: its videos stay unscored
            model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000))
            model.fit(x[fit], y[fit])
            scores[held] = model.predict_proba(x[held])[:, 1]
        done = ~np.isnan(scores)
        value = label_auc(y[done], scores[done])
        if not math.isnan(value):
            aucs.append(value)
    if not aucs:
        return None, None, folds
    return float(np.mean(aucs)), float(np.std(aucs)), folds


def audit(rows: Sequence[Mapping[str, Any]], labels: Sequence[int], groups: Sequence[str],
          seed: int = 0) -> ConfoundAudit:
    """The confound audit of per-video rows (keys: ``NUISANCE_FEATURES``, optionally ``codec``) with their
    labels (0 real, 1 fake) and groups (a group's videos share a source or identity)."""
    if not len(rows) == len(labels) == len(groups):
        raise ValueError(f"rows, labels and groups differ in length: {len(rows)}, {len(labels)}, {len(groups)}")
    y = np.asarray(labels, dtype=np.int64)
    groups = [str(g) for g in groups]
    n_real, n_fake = int(np.sum(y == 0)), int(np.sum(y == 1))
    n_groups = len(set(groups))
    judged = n_real >= MIN_PER_CLASS and n_fake >= MIN_PER_CLASS and n_groups >= MIN_GROUPS
    note = "" if judged else (f"too few videos to judge (needs >= {MIN_PER_CLASS} of each label in >= "
                              f"{MIN_GROUPS} groups): reported, never gated")
    if n_real == 0 or n_fake == 0:
        return ConfoundAudit(len(rows), n_real, n_fake, n_groups, (), None, None, (), 0, 0,
                             tuple((n, "one label only") for n in NUISANCE_FEATURES), False,
                             "only one label present: nothing to audit")
    singles, dropped, columns, kept = [], [], [], []
    for name in NUISANCE_FEATURES:
        col = _column(rows, name)
        if np.isnan(col).any():
            dropped.append((name, f"missing in {int(np.isnan(col).sum())} of {len(rows)} videos"))
            continue
        if np.ptp(col) == 0:
            dropped.append((name, f"constant: {col[0]:g}"))
            continue
        value = label_auc(y, col)
        singles.append(FeatureAUC(name, value, max(value, 1 - value), _direction(value)))
        columns.append(np.log1p(np.maximum(col, 0.0)))
        kept.append(name)
    codecs = [str(r.get(CODEC) or "") for r in rows]
    distinct = sorted(set(codecs))
    if "" in distinct:
        dropped.append((CODEC, f"missing in {codecs.count('')} of {len(rows)} videos"))
    elif len(distinct) < 2:
        dropped.append((CODEC, f"constant: {distinct[0]}"))
    else:
        value = label_auc(y, _codec_scores(codecs, y, groups))
        singles.append(FeatureAUC(CODEC, value, max(value, 1 - value),
                                  "codec predicts the label" if value >= 0.5 else "codec predicts against the label"))
        columns += [np.array([c == d for c in codecs], dtype=np.float64) for d in distinct]
        kept.append(CODEC)
    combined = sd = None
    folds = 0
    if columns and judged:  # a few groups give folds with one label: a CV score of 0.0 or 1.0 that means nothing
        combined, sd, folds = _group_cv_auc(np.stack(columns, axis=1), y, groups, seed)
    singles.sort(key=lambda f: (-f.strength, f.name))
    return ConfoundAudit(len(rows), n_real, n_fake, n_groups, tuple(singles), combined, sd, tuple(kept), folds,
                         SHUFFLES if combined is not None else 0, tuple(dropped), judged, note)


def verdict(result: ConfoundAudit, warn: float, fail: float) -> tuple[str, str]:
    """("ok" | "warn" | "fail" | "not judged", one line) for an audit against the two thresholds."""
    lead = ", ".join(f"{f.name} {f.strength:.2f} ({f.direction})" for f in result.leading(warn)[:3])
    lead = f"; features alone: {lead}" if lead else ""
    value = "n/a" if result.combined_auc is None else f"{result.combined_auc:.3f}"
    if not result.judged:
        return "not judged", f"nuisance AUC {value}: {result.note}{lead}"
    if result.strength >= fail:
        return "fail", f"nuisance AUC {value} >= {fail:g}: the label is predictable from capture facts{lead}"
    if result.strength >= warn:
        return "warn", f"nuisance AUC {value} >= {warn:g}{lead}"
    return "ok", f"nuisance AUC {value} < {warn:g}{lead}"
