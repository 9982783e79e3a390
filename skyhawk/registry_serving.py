"""What the registry serves: pin, unpin, rollback and TF Serving's ``models.config``, each change all or nothing.

A change of the serving version (``pin``/``unpin``/``rollback``) first builds the ``models.config`` it leads
to, so an unusable or unknown serving version fails before any file is touched; then it writes
``serving.json`` and ``models.config``, and puts the old ``serving.json`` back if the second write fails.
A failed command leaves every file as it was. ``Serving`` is a mixin of ``skyhawk.registry.Registry``.
"""
from __future__ import annotations

from typing import Any

from skyhawk import fileio
from skyhawk.registry_layout import MODELS_CONFIG, SERVING, RegistryError, dumps, now

_KEEP = object()  # the model's current serving version
_SETTLE_TRIES = 10  # models.config rewrites while concurrent publishes keep changing it


class Serving:
    """pin/unpin/rollback/models_config for a ``Registry`` (readers: _scan, _records, _pick, _parse_pin, ...)."""

    def pin(self: Any, model_name: str, version: int, *, reason: str = "pin") -> None:
        """Serve exactly ``version`` (must be published and usable) until unpinned."""
        published = self._require(model_name)
        self._require_usable(model_name, self._pick(model_name, published, version), reason)
        previous = self.serving(model_name, published)
        self._set_serving(model_name, {"model_name": model_name, "version": int(version), "pinned_at": now(),
                                       "reason": reason, "previous": previous})

    def unpin(self: Any, model_name: str) -> None:
        """Serve the latest published version again (also removes a corrupt pin file)."""
        self._set_serving(model_name, None)

    def rollback(self: Any, model_name: str) -> int:
        """Pin the newest usable published version older than the serving one; returns it."""
        published = self._require(model_name)
        current = self.serving(model_name, published)
        older = [v for v in published if current is not None and v < current and self._checked(published[v]).usable]
        if not older:
            raise RegistryError(f"cannot roll back {model_name}: no usable published version before {current}")
        target = max(older)
        self.pin(model_name, target, reason="rollback")
        return target

    def _set_serving(self: Any, model_name: str, pin: dict | None) -> None:
        """Write (pin) or remove (None) model_name's serving.json and the models.config that goes with it."""
        version = pin["version"] if pin else max(self._require(model_name))
        config = self.models_config({model_name: version})  # fails before anything changes
        path = self._join(model_name, SERVING)
        before = self._pin_bytes(model_name)
        if pin:
            fileio.write_bytes(path, dumps(pin))
        elif before is not None:
            fileio.remove(path)
        try:
            fileio.write_bytes(self._join(MODELS_CONFIG), config.encode())
        except BaseException:
            if before is None:
                fileio.remove(path)
            else:
                fileio.write_bytes(path, before)
            raise

    def models_config(self: Any, serving: dict[str, int] | None = None) -> str:
        """TF Serving ``ModelServerConfig`` text: every model with its serving version as the only one allowed
        (``serving``: {model: version} to use instead of the current ones).

        Each model gets a ``specific`` version policy naming its serving version (the pin, else the latest
        published one), so TF Serving never loads a folder the registry hides (no metadata.json yet, a
        failed publish) nor a newer version while a pin holds. A serving version that is not usable or not
        published is a RegistryError (one line) instead of a config TF Serving would fail on.
        """
        return self._config(serving)[0]

    def _config(self: Any, serving: dict[str, int] | None = None) -> tuple[str, tuple]:
        """(models.config text, the fingerprint of the state it was built from, as ``_state`` gives it), from one
        listing of the registry: each metadata.json read once, each serving version's graph checked once."""
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2 as pb

        scan = self._scan()
        pins = {name: self._pin_bytes(name) for name in scan}
        config = pb.ModelServerConfig()
        for name, paths in sorted(scan.items()):
            published = self._records(name, paths)
            if not published:  # nothing readable: not a model
                continue
            version = (serving or {}).get(name, _KEEP)
            if version is _KEEP:
                version = self._serving_of(self._parse_pin(name, pins[name]), published)
            record = self._pick(name, published, version)
            self._require_usable(name, record, "serve")
            entry = config.model_config_list.config.add(name=name, base_path=self.model_dir(name),
                                                        model_platform="tensorflow")
            entry.model_version_policy.specific.versions.append(record.version)
        text = ("# Generated by skyhawk.registry; rewritten on every publish/pin/unpin/rollback.\n"
                + text_format.MessageToString(config))
        return text, _fingerprint(scan, pins)

    def _state(self: Any) -> tuple:
        """What models.config depends on, cheaply: each model's versions with a metadata.json (one listing) and
        its raw pin file; no metadata.json or graph is read."""
        scan = self._scan()
        return _fingerprint(scan, {name: self._pin_bytes(name) for name in scan})

    def write_models_config(self: Any) -> str:
        """(Re)write ``REGISTRY/models.config``; returns its path.

        Concurrent publishers each write the config they built; one built before another's version appeared
        could land last. So after writing, the registry's state (``_state``: versions and pins) is taken again
        and, while it differs from the one the written config was built from, the config is rebuilt and
        rewritten: whoever writes last has then seen every version published before its write."""
        path = self._join(MODELS_CONFIG)
        config, built_from = self._config()
        for _ in range(_SETTLE_TRIES):
            fileio.write_bytes(path, config.encode())
            if self._state() == built_from:
                break
            config, built_from = self._config()
        return path


def _fingerprint(scan: dict[str, dict[int, str]], pins: dict[str, bytes | None]) -> tuple:
    """(model, its version numbers, its raw pin file) per model of a registry listing: equal fingerprints give
    the same models.config (unless a metadata.json or graph changed in place)."""
    return tuple((name, tuple(sorted(scan[name])), pins.get(name)) for name in sorted(scan))
