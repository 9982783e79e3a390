"""``skyhawk ensemble``: publish a registry version whose one SavedModel averages its members' P(fake).

    skyhawk ensemble --registry REG --name NAME --model REF --model REF ... [--weights 1,1] [--threshold T]

The model building is ``skyhawk_model.ensemble``; this module only parses the command line and prints the
published version. Errors (members with different crop settings, a reference that does not resolve, bad
weights) are one line: ``skyhawk ensemble: error: ...``.
"""
from __future__ import annotations

import argparse

from pipelines.commands import options


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("ensemble", help="publish a version averaging several models' P(fake) (one SavedModel)",
                       description="Joins registry models (or SavedModel folders) that crop faces identically "
                                   "into one SavedModel whose P(fake) is the weighted mean of theirs, exported "
                                   "like the Trainer's model, and publishes it with its members' references, "
                                   "versions and provenance. See docs/model.md.")
    e.add_argument("--registry", required=True, help="registry root to publish into (local or gs://)")
    e.add_argument("--name", required=True, help="model name of the ensemble in the registry")
    e.add_argument("--model", action="append", required=True, metavar="REF",
                   help=f"a member (repeat, at least 2): {options.MODEL_HELP}")
    e.add_argument("--weights", metavar="W1,W2,...",
                   help="one weight >= 0 per member, in --model order (normalized to sum 1; default: equal)")
    e.add_argument("--threshold", type=float,
                   help="P(fake) threshold exported with the ensemble (default: the weighted mean of the members')")
    e.set_defaults(func=ensemble)


def parse_weights(text: str | None) -> list[float] | None:
    """``1,2.5`` -> [1.0, 2.5]; None stays None; ValueError naming the bad item."""
    if text is None:
        return None
    out = []
    for item in text.split(","):
        try:
            out.append(float(item))
        except ValueError:
            raise ValueError(f"--weights: {item.strip()!r} is not a number (expected W1,W2,...)") from None
    return out


def ensemble(args: argparse.Namespace) -> int:
    from skyhawk_model.ensemble import make_ensemble

    meta = make_ensemble(args.model, args.registry, args.name, weights=parse_weights(args.weights),
                         threshold=args.threshold)
    members = ", ".join(f"{m['label']} x{m['weight']:.3g}" for m in meta["ensemble"]["members"])
    print(f"ensemble published: {args.registry.rstrip('/')}/{args.name}/{meta['version']} (mean P(fake) of "
          f"{members}; threshold {meta['threshold']:.3g}, image_size {meta['image_size']})")
    return 0
