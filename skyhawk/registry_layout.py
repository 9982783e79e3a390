"""The registry's file names, its typed version record, its one-line error type and its JSON writer (shared by
``registry`` and ``registry_serving``)."""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
from typing import Any, Iterator, Mapping

from skyhawk.typed import ConfigError, coerce

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


# fields of VersionRecord the registry sets (a publisher's values for them are ignored) / adds when reading
REGISTRY_FIELDS = ("model_name", "version", "created_at", "files", "size_bytes", "uri")
CHECK_FIELDS = ("usable", "problem")
_TYPED = {"threshold": float, "image_size": int, "backbone": str, "source": str, "model_name": str,
          "created_at": str, "size_bytes": int, "version": int}


@dataclasses.dataclass
class VersionRecord(Mapping[str, Any]):
    """One version's record, its ``metadata.json``: what scoring needs (threshold, image size, backbone, the
    config it was trained with), what the registry adds (name, version, files, ...) and ``extra``, every other key
    a publisher records (metrics, lineage, provenance). On disk it is one flat JSON object, ``extra``'s keys at
    the top level. Code reads the typed fields (``record.version``, ``record.extra["metrics"]``); the read-only
    mapping view (``record["metrics"]``, ``record.get(...)``) of that object plus ``uri`` and, once read,
    ``usable``/``problem`` is kept for scripts and older callers (one key costs one lookup)."""

    threshold: float | None = None
    image_size: int | None = None
    backbone: str | None = None
    blessed: bool | None = None
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str | None = None
    # set by the registry
    model_name: str = ""
    version: int = 0
    created_at: str = ""
    files: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    size_bytes: int = 0
    uri: str = ""
    # set when read, never stored
    usable: bool | None = None
    problem: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VersionRecord:
        """The record of a JSON object (keys it does not type go to ``extra``); ValueError naming a bad field."""
        if isinstance(data, VersionRecord):
            return dataclasses.replace(data, config=dict(data.config), extra=dict(data.extra))
        if not isinstance(data, Mapping):
            raise ValueError(f"a JSON {type(data).__name__}, not an object")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        typed = {k: v for k, v in data.items() if k in names and v is not None}
        try:
            for key, hint in _TYPED.items():
                if key in typed:
                    typed[key] = coerce(key, hint, typed[key])
        except ConfigError as e:
            raise ValueError(str(e)) from None
        if not isinstance(typed.get("config", {}), dict) or not isinstance(typed.get("files", []), list):
            raise ValueError("config must be an object and files a list")
        if "blessed" in typed and not isinstance(typed["blessed"], bool):
            raise ValueError(f"blessed must be true, false or null, got {typed['blessed']!r}")
        extra = {k: v for k, v in data.items() if k not in names}
        return cls(**typed, extra=extra)

    def to_json(self) -> dict[str, Any]:
        """The stored form: one flat object (what ``metadata.json`` holds); unset optional fields left out."""
        out = dict(self.extra)
        for name in _STORED:
            value = getattr(self, name)
            if _is_set(value):
                out[name] = value
        return out

    def as_dict(self) -> dict[str, Any]:
        """The stored form plus what reading adds (``usable``, ``problem``): a listing's JSON."""
        out = self.to_json()
        if self.usable is not None:
            out.update(usable=self.usable, problem=self.problem)
        return out

    def __getitem__(self, key: str) -> Any:
        """``as_dict()[key]`` without building it: a set field, else ``usable``/``problem`` once read, else
        ``extra``'s key (KeyError when none)."""
        if key in _STORED and _is_set(getattr(self, key)):
            return getattr(self, key)
        if key in CHECK_FIELDS and self.usable is not None:
            return getattr(self, key)
        return self.extra[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())


def _is_set(value: Any) -> bool:
    """Whether a field's value is stored (an unset optional field is left out of ``metadata.json``)."""
    return value is not None and value != "" and value != {}


# the fields stored in metadata.json (``extra``'s keys are stored at the top level; usable/problem never are)
_STORED = tuple(f.name for f in dataclasses.fields(VersionRecord) if f.name not in ("extra", *CHECK_FIELDS))
