"""Group-disjoint splits and swap donors: which split each labelled item goes to, and whose face a swap uses.

A group (an identity, a source video and its fakes) is never in two splits; a swap's donor comes from the
item's own split (an eval or test split of one group borrows from train; train never borrows).
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import replace
from typing import Iterable

from skyhawk.datasets import EVAL, TEST, TRAIN, VideoItem
from skyhawk.features import REAL


def _unit(group: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def eval_band(n: int, eval_fraction: float) -> tuple[int, int]:
    """The allowed number of eval groups among n: round(f*n) +- max(1, 10 % of it), within 1..n-1 for n >= 2."""
    target = eval_fraction * n
    slack = max(1.0, 0.1 * target)
    lo, hi = max(0, int(-(-(target - slack) // 1))), min(n, int((target + slack) // 1))
    if n >= 2:
        lo, hi = max(lo, 1), min(hi, n - 1)
    return lo, max(lo, hi)


def assign_splits(items: Iterable[VideoItem], eval_fraction: float, salt: str = "skyhawk") -> list[VideoItem]:
    """Gives every labelled item a split so that no group spans two splits.

    A group with a forced split (a dataset's own test/eval list, a manifest's split column) takes it for
    all its members and never moves. The other groups are split per stratum, the groups sharing the same
    set of labels (real only, fake only, both), so that eval holds both classes when the data has them:

    - rank the stratum's n groups by u = SHA-256(salt:group) in [0, 1);
    - k = the number of groups with u < eval_fraction (the plain per-group hash rule), clamped into
      ``eval_band(n, eval_fraction)``: round(f*n) +- max(1, 10 %), and 1..n-1 when n >= 2;
    - the k lowest-ranked groups go to eval, the rest to train.

    Stability when groups are added: while the plain rule's count is inside the band (it is, except on
    small or unluckily hashed data), a group's split depends on the group alone, so adding groups never
    moves one. When the clamp is active, the old groups in eval are still the lowest-ranked ones of their
    stratum, so only groups at the eval/train boundary can move, all in the same direction, and exactly
    |k_old - k_new + b| of them, where b is the number of added groups of the stratum landing in eval.
    With at least two free groups overall, neither train nor eval is left empty.
    """
    items = list(items)
    forced: dict[str, str] = {}
    for it in items:
        if it.split and not it.error:
            if forced.get(it.group_id, it.split) != it.split:
                forced[it.group_id] = TEST if TEST in (it.split, forced[it.group_id]) else it.split
            else:
                forced[it.group_id] = it.split
    group_labels: dict[str, set[int]] = defaultdict(set)
    for it in items:
        if not it.error and it.group_id not in forced:
            group_labels[it.group_id].add(it.label)
    strata: dict[frozenset, list[str]] = defaultdict(list)
    for g, labs in group_labels.items():
        strata[frozenset(labs)].append(g)
    chosen: dict[str, str] = {}
    for groups in strata.values():
        ranked = sorted(groups, key=lambda g: (_unit(g, salt), g))
        lo, hi = eval_band(len(ranked), eval_fraction)
        k = min(max(sum(_unit(g, salt) < eval_fraction for g in ranked), lo), hi)
        chosen.update((g, EVAL if i < k else TRAIN) for i, g in enumerate(ranked))
    free = sorted(chosen, key=lambda g: (_unit(g, salt), g))
    if len(free) >= 2:
        if EVAL not in chosen.values():
            chosen[free[0]] = EVAL
        if TRAIN not in chosen.values():
            chosen[free[-1]] = TRAIN
    chosen.update(forced)
    return [it if it.error else replace(it, split=chosen[it.group_id]) for it in items]


def assign_donors(items: Iterable[VideoItem]) -> list[VideoItem]:
    """Gives each real item a swap donor: the next real item (sorted by id) of another group, in its own split.

    A donor of the same split keeps the splits apart (a train fake never shows a held-out identity's face,
    and eval swaps are between held-out identities). An eval or test split with a single group borrows
    from train; a train item never borrows (no donor: extraction falls back to SBI for it).
    """
    items = list(items)
    reals = sorted((it for it in items if it.label == REAL and not it.error), key=lambda it: it.video_id)
    donors = {}
    for i, it in enumerate(reals):
        ring = reals[i + 1:] + reals[:i]
        ring = [r for r in ring if r.split == it.split] + [r for r in ring if it.split != TRAIN and r.split == TRAIN]
        donors[it.video_id] = next((r.uri for r in ring if r.group_id != it.group_id), "")
    return [replace(it, donor=donors[it.video_id]) if it.video_id in donors else it for it in items]
