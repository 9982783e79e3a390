"""The ``skyhawk`` command's entry point (``setup.py`` console script): logging, errors, exit code.

The commands themselves are defined in ``pipelines.commands`` (one module per command family).
"""
from __future__ import annotations

from skyhawk import env

env.quiet()  # before the imports below load Beam, TensorFlow and Google's client libraries

import logging  # noqa: E402
import sys  # noqa: E402

from pipelines.commands import build_parser  # noqa: E402

QUIET_LOGGERS = ("apache_beam", "absl", "tensorflow")  # library chatter hidden without --verbose


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # TFX resolver notes, Beam and TensorFlow start-up messages
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("skyhawk: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one clear line for the user; --verbose shows the traceback
        if args.verbose:
            raise
        print(f"skyhawk {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
