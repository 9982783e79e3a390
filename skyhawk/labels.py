"""The label source spec (``mode:arg;...``) as one typed object, parsed once, and where its relative manifests are read.

A spec is one source, or several joined by ``;``:

- ``folders``: a ``real/`` or ``fake/`` folder anywhere in a video's path gives its label;
- ``folders:SUB=LABEL,...``: only the media under the named subfolders, each with its label;
- ``csv:FILE``: a manifest ``path,label[,group][,split][,method][,source]``;
- ``ffpp`` | ``dfdc`` | ``celebdf``: the dataset's own layout;
- several sources joined by ``;``: each ``folders:SUB=LABEL,...`` or ``csv:FILE``
  (``folders:real_videos=real;csv:train_fakes/labels.csv``).

Where a relative manifest is read from (``LabelSpec.resolve``): from the folder the videos are read from: the
span's folder (``span-N/``) with spans, else the input folder (``--input``, ``data_root``,
``gate.golden_root``). One exception, kept from before this rule: a lone ``csv:FILE`` (the only source)
outside spans is a file path like any other on a command line or in a config file, so it is relative to the
working directory, or to the base a config is loaded with (``LabelSpec.lone_at``).

This module is the only one that splits a spec on ``;`` or ``:`` (``datasets``, ``config``, the example gen
and the pipeline runner all go through ``LabelSpec``).
"""
from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

from skyhawk import fileio

SOURCE_SEP = ";"  # joins several label sources: folders:real_videos=real;csv:train_fakes/labels.csv
LABEL_MODES = ("folders", "csv", "ffpp", "dfdc", "celebdf")
JOINABLE = ("folders", "csv")  # the modes a ';'-joined source may have (folders only with SUB=LABEL,...)
LABEL_HELP = ("folders | folders:SUB=LABEL,... | csv:FILE | ffpp | dfdc | celebdf, or folders:SUB=LABEL,... and "
              "csv:FILE sources joined by ';'")


class LabelError(ValueError):
    """The label source is missing or malformed (a one-line reason)."""


def parse_label(value: str) -> int:
    """A label word (any case): real|original|pristine|0 -> REAL, fake|manipulated|synthetic|1 -> FAKE."""
    from skyhawk.features import FAKE, REAL  # here, not at the top: skyhawk.config imports this module

    v = value.strip().lower()
    if v in ("0", "real", "original", "pristine"):
        return REAL
    if v in ("1", "fake", "manipulated", "synthetic"):
        return FAKE
    raise LabelError(f"unknown label {value!r} (use real|fake|0|1)")


def parse_folder_labels(arg: str) -> dict[str, int]:
    """``SUB=LABEL[,SUB=LABEL...]`` -> {normalised subfolder: label}; LabelError naming the bad part."""
    out: dict[str, int] = {}
    for part in arg.split(","):
        sub, eq, label = part.strip().partition("=")
        sub = posixpath.normpath(sub.strip().replace("\\", "/")).strip("/")
        if not eq or not sub or sub == "." or sub.startswith(".."):
            raise LabelError(f"labels folders:{arg}: {part.strip()!r} is not SUBFOLDER=real|fake under the root")
        if sub in out:
            raise LabelError(f"labels folders:{arg}: {sub} named twice")
        out[sub] = parse_label(label)
    return out


def _is_absolute(path: str) -> bool:
    return fileio.is_remote(path) or os.path.isabs(path)


@dataclass(frozen=True)
class LabelSource:
    """One source of a spec: its mode and argument (a manifest path, or ``SUB=LABEL,...`` as written)."""

    mode: str
    arg: str = ""

    @property
    def manifest(self) -> str:
        """The manifest path of a ``csv:FILE`` source, else ""."""
        return self.arg if self.mode == "csv" else ""

    @property
    def folders(self) -> dict[str, int]:
        """{subfolder: label} of a ``folders:SUB=LABEL,...`` source, else {} (checked when parsed)."""
        return parse_folder_labels(self.arg) if self.mode == "folders" and self.arg else {}

    def under(self, folder: str) -> LabelSource:
        """A relative manifest read from folder; anything else unchanged."""
        if not self.manifest or _is_absolute(self.manifest):
            return self
        return LabelSource("csv", fileio.join(folder, self.manifest))

    def __str__(self) -> str:
        return f"{self.mode}:{self.arg}" if self.arg else self.mode


@dataclass(frozen=True)
class LabelSpec:
    """A parsed label spec: one source, or several joined by ``;`` (each folders:SUB=LABEL,... or csv:FILE)."""

    sources: tuple[LabelSource, ...]

    @classmethod
    def parse(cls, text: str) -> LabelSpec:
        """The spec of ``text``; LabelError (one line) when it is not one."""
        if not isinstance(text, str) or not text.strip():
            raise LabelError(f"labels must be {LABEL_HELP}, got {text!r}")
        parts = [p.strip() for p in text.split(SOURCE_SEP)]
        sources = []
        for part in parts:
            mode, _, arg = part.partition(":")
            mode, arg = mode.strip(), arg.strip()
            if mode not in LABEL_MODES:
                raise LabelError(f"labels must be {LABEL_HELP}, got {text!r}")
            if len(parts) > 1 and (mode not in JOINABLE or not arg):
                raise LabelError(f"labels: {part!r}: a source of a '{SOURCE_SEP}'-joined list must be "
                                 "folders:SUB=LABEL,... or csv:FILE")
            if mode == "csv" and not arg:
                raise LabelError("labels=csv needs a manifest path: csv:FILE")
            if arg and mode not in JOINABLE:
                raise LabelError(f"labels: {mode} takes no argument, got {part!r}")
            source = LabelSource(mode, arg)
            _ = source.folders  # a bad SUB=LABEL list fails here, once
            sources.append(source)
        return cls(tuple(sources))

    @property
    def joined(self) -> bool:
        """Several sources joined by ';'."""
        return len(self.sources) > 1

    @property
    def mode(self) -> str:
        """The mode of a single-source spec (``folders``, ``csv``, ...); "" for a joined one."""
        return "" if self.joined else self.sources[0].mode

    @property
    def manifests(self) -> list[str]:
        """Every ``csv:FILE`` path, as it stands (relative ones not yet resolved)."""
        return [s.manifest for s in self.sources if s.manifest]

    @property
    def absolute_manifests(self) -> list[str]:
        """The manifests that need no folder to be found (absolute or remote): what can be checked before a span
        folder is known."""
        return [m for m in self.manifests if _is_absolute(m)]

    @property
    def lone_manifest(self) -> str:
        """The manifest of a lone ``csv:FILE`` spec, else ""."""
        return "" if self.joined else self.sources[0].manifest

    def under(self, folder: str) -> LabelSpec:
        """Every relative manifest read from folder (the span's folder with spans, else the input folder)."""
        return LabelSpec(tuple(s.under(folder) for s in self.sources))

    def lone_at(self, base: str) -> LabelSpec:
        """A lone relative ``csv:FILE`` made absolute against base (where it was written: the working directory,
        or the base a config is loaded with); any other spec unchanged."""
        manifest = self.lone_manifest
        if not manifest or _is_absolute(manifest):
            return self
        return LabelSpec((LabelSource("csv", os.path.normpath(os.path.join(fileio.local_path(base), manifest))),))

    def resolve(self, folder: str, base: str | None = None, spans: bool = False) -> LabelSpec:
        """Every relative manifest made absolute, by the module's rule: read from folder, the folder the videos are
        read from (a span's folder with ``spans``). Outside spans a lone ``csv:FILE`` is relative to base
        (default: the working directory) instead."""
        spec = self if spans else self.lone_at(os.path.abspath(base or os.getcwd()))
        return spec.under(folder)

    def __str__(self) -> str:
        return SOURCE_SEP.join(str(s) for s in self.sources)
