"""The registry's file names, its one-line error type and its JSON writer (shared by ``registry`` and
``registry_serving``)."""
from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any

METADATA = "metadata.json"
SERVING = "serving.json"
STAGING = ".staging"
CLAIMS = ".claims"
MODELS_CONFIG = "models.config"


class RegistryError(Exception):
    """A user-facing registry error; the message is one line."""


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):  # numpy scalars and arrays
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON-serializable")


def non_finite(obj: Any, where: str = "") -> str | None:
    """The key path of the first NaN or infinite number in obj (numpy values included), or None."""
    if hasattr(obj, "tolist"):
        obj = obj.tolist()
    if isinstance(obj, float) and not math.isfinite(obj):
        return f"{where or '(top level)'} = {obj}"
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for key, value in items:
        found = non_finite(value, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


def finite_or_none(obj: Any) -> Any:
    """obj with every NaN or infinite number replaced by None (JSON null): e.g. an AUC of a one-class set."""
    if hasattr(obj, "tolist"):
        obj = obj.tolist()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def dumps(obj: Any) -> bytes:
    """Strict JSON (no NaN or Infinity, which JSON readers other than Python's reject), indented, sorted."""
    bad = non_finite(obj)
    if bad:
        raise ValueError(f"a non-finite number at {bad} (JSON has no NaN or Infinity; store null or a string)")
    return (json.dumps(obj, indent=2, sort_keys=True, default=_json_default, allow_nan=False) + "\n").encode()
