"""Frozen config dataclasses that check themselves when built, and their dict form (JSON files, ``--set``).

``Checked`` subclasses are checked in ``__post_init__`` (field types against the annotations, then the
class's own ``_check``), so every instance in existence is valid however it was made; ``from_dict`` builds
one from a (nested) dict with errors naming the dotted key; ``to_dict`` is the JSON-ready inverse.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Mapping, Type, TypeVar

T = TypeVar("T")
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # config integers are 32-bit


class ConfigError(ValueError):
    """A configuration value is invalid (the message names the key)."""


def need(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _type_error(name: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")


def coerce(name: str, hint: Any, value: Any) -> Any:
    """value checked against a field's type hint (int -> float allowed; a list for a tuple); else ConfigError."""
    if hint is bool:
        if not isinstance(value, bool):
            raise _type_error(name, "true or false", value)
    elif hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(name, "an integer", value)
        if not INT_MIN <= value <= INT_MAX:  # what TFX's int parameters and the protos downstream can hold
            raise ConfigError(f"{name} must be an integer from {INT_MIN} to {INT_MAX}, got {value}")
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _type_error(name, "a number", value)
        value = float(value)
    elif hint is str:
        if not isinstance(value, str):
            raise _type_error(name, "a string", value)
    elif typing.get_origin(hint) is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not all(
                isinstance(v, str) for v in value):
            raise _type_error(name, "a list of strings", value)
        value = tuple(value)
    return value


def check_types(config: Any) -> None:
    """Every field of a config dataclass has its annotated type (ConfigError naming the field); ints given for
    floats and lists given for tuples are stored converted."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        if not dataclasses.is_dataclass(hints[f.name]):
            object.__setattr__(config, f.name, coerce(f.name, hints[f.name], getattr(config, f.name)))


class Checked:
    """Base of the config dataclasses: a config is checked once, when it is built (also by ``replace``)."""

    def __post_init__(self) -> None:
        check_types(self)
        self._check()

    def _check(self) -> None:
        raise NotImplementedError


def from_dict(cls: Type[T], data: Mapping[str, Any], _prefix: str = "") -> T:
    """Builds a config dataclass from a (nested) dict, checking every value against the field's type;
    unknown keys and wrong types are errors naming the (dotted) key."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{_prefix.rstrip('.') or cls.__name__} must be an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f" (under {_prefix.rstrip('.')})" if _prefix else ""
        raise ConfigError(f"unknown {cls.__name__} keys: {', '.join(unknown)}{where}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        if dataclasses.is_dataclass(hints[name]):
            kwargs[name] = from_dict(hints[name], value, f"{_prefix}{name}.")
        else:
            kwargs[name] = coerce(_prefix + name, hints[name], value)
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{_prefix}{e}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """The JSON-ready dict of a config dataclass."""
    out = dataclasses.asdict(config)
    if "beam_args" in out:
        out["beam_args"] = list(out["beam_args"])
    return out
