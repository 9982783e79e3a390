"""``skyhawk registry``: list, inspect, pin, unpin and roll back published model versions; ``skyhawk
import-model``: publish a released detector's weights as a new version.

    skyhawk registry [--root REG] [--json] list [NAME]
    skyhawk registry show NAME[@VERSION]
    skyhawk registry pin NAME@VERSION
    skyhawk registry unpin NAME
    skyhawk registry rollback NAME
    skyhawk registry config            # (re)write and print REG/models.config for TF Serving
    skyhawk import-model --backbone meso4 --weights Meso4_DF.h5 --registry REG --name NAME

``--root`` defaults to $SKYHAWK_REGISTRY, else the config's default registry (``out/registry``); it and
``--json`` may also follow the action.
One handler per action (``list_models``/``list_versions`` for ``list``, ``show``, ``pin``, ...); each prints a
table or, with ``--json``, JSON. Errors raise ``RegistryError``; ``pipelines.main.main`` prints
``skyhawk registry: error: ...`` and exits 1.
"""
from __future__ import annotations

import argparse
import json
import os

from skyhawk import fileio
from skyhawk.config import MESO_BACKBONES, PipelineConfig, TrainConfig
from skyhawk.registry import Registry, RegistryError, VersionRecord

DEFAULT_ROOT = PipelineConfig.registry  # the config's default registry


def _common(defaults: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    d = (lambda v: v) if defaults else (lambda v: argparse.SUPPRESS)
    p.add_argument("--root", default=d(None),
                   help=f"registry dir or gs://bucket/prefix (default $SKYHAWK_REGISTRY or {DEFAULT_ROOT})")
    p.add_argument("--json", action="store_true", default=d(False), help="machine-readable JSON output")
    return p


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("registry", parents=[_common(True)], help="versioned model registry",
                              description="Versioned model registry (TF Serving layout); see docs/registry.md.")
    acts = p.add_subparsers(dest="registry_command", metavar="ACTION")
    acts.required = True
    common = _common(False)
    actions = (  # (action, handler, help, its positional argument: (dest, metavar, nargs) or None)
        ("list", list_, "models, or the versions of one model", ("name", "NAME", "?")),
        ("show", show, "metadata of a version (default: the serving one)", ("ref", "NAME[@VERSION]", None)),
        ("pin", pin, "serve exactly this version", ("ref", "NAME@VERSION", None)),
        ("unpin", unpin, "serve the latest published version again", ("name", "NAME", None)),
        ("rollback", rollback, "pin the version before the serving one", ("name", "NAME", None)),
        ("config", config, "(re)write and print models.config for TF Serving", None),
    )
    for action, handler, help, positional in actions:
        a = acts.add_parser(action, parents=[common], help=help)
        if positional:
            dest, metavar, nargs = positional
            a.add_argument(dest, metavar=metavar, nargs=nargs)
        a.set_defaults(func=handler)

    i = subparsers.add_parser("import-model", help="publish released detector weights (MesoNet) as a registry version",
                              description="Builds the network with the released Keras weights, exports it like the "
                                          "Trainer does (signatures, crop settings; output mapped to P(fake)) and "
                                          "publishes it with its provenance (file, sha256). No training.")
    i.add_argument("--backbone", required=True, choices=MESO_BACKBONES)
    i.add_argument("--weights", required=True, help="the released .h5 weights file")
    i.add_argument("--registry", required=True, help="registry root (local or gs://)")
    i.add_argument("--name", required=True, help="model name in the registry")
    i.add_argument("--threshold", type=float, default=TrainConfig.threshold,
                   help="P(fake) threshold exported with the model")
    i.set_defaults(func=import_model)


def import_model(args: argparse.Namespace) -> int:
    from skyhawk_model.importer import import_model as publish

    record = publish(args.backbone, args.weights, args.registry, args.name, threshold=args.threshold)
    imported = record.extra["imported"]
    print(f"model imported: {args.registry}/{args.name}/{record.version} ({args.backbone}, "
          f"{imported['file']} sha256 {imported['sha256'][:12]}...)")
    return 0

def parse_ref(ref: str, need_version: bool) -> tuple[str, int | None]:
    name, sep, version = ref.partition("@")
    if not name:
        raise RegistryError(f"bad model reference {ref!r} (expected NAME@VERSION)")
    if not sep:
        if need_version:
            raise RegistryError(f"missing version in {ref!r} (expected NAME@VERSION)")
        return name, None
    if not version.isdigit():
        raise RegistryError(f"bad version {version!r} in {ref!r} (expected an integer, e.g. {name}@3)")
    return name, int(version)


def _fmt_num(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _blessed(meta: dict) -> str:
    b = meta.get("blessing", meta.get("blessed"))
    if isinstance(b, dict):
        b = b.get("blessed", b.get("is_blessed", b))
    if isinstance(b, bool):
        return "yes" if b else "no"
    return "-" if b is None else str(b)


# The metrics the Evaluator's gate checks (frame accuracy on the model's decision, video accuracy), shown
# first. Literal names: this module may not import the pipeline floors that define them.
GATED_METRICS = ("binary_accuracy", "video_accuracy")


def _flat_metrics(metrics: dict) -> dict[str, float]:
    """{metric: value} from flat metrics or the pusher's {output: {metric: value}} (first output by name wins)."""
    out: dict[str, float] = {}
    for key in sorted(metrics, key=lambda k: (isinstance(metrics[k], dict), k)):
        value = metrics[key]
        if isinstance(value, dict):
            for name, v in sorted(value.items()):
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out.setdefault(name, v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out.setdefault(key, value)
    return out


def _metrics(meta: dict, limit: int = 60) -> str:
    m = meta.get("metrics")
    if not isinstance(m, dict):
        return "-" if m is None else str(m)[:limit]
    flat = _flat_metrics(m)
    names = [n for n in GATED_METRICS if n in flat] + sorted(n for n in flat if n not in GATED_METRICS)
    s = " ".join(f"{n}={_fmt_num(flat[n])}" for n in names)
    return (s[: limit - 1] + "…") if len(s) > limit else (s or "-")


def _run(meta: dict) -> str:
    """The pipeline run that made a version: a top-level run id, or the pusher's ``pipeline_run`` record."""
    run = meta.get("pipeline_run") if isinstance(meta.get("pipeline_run"), dict) else {}
    for value in (meta.get("pipeline_run_id"), meta.get("run_id"), run.get("run_id"), run.get("pipeline_run_id")):
        if value:
            return str(value)
    return f"model#{run['model_artifact_id']}" if run.get("model_artifact_id") is not None else "-"


def span_range(meta: dict) -> str:
    """The spans a version was trained on, e.g. '1-3' or '1,3' ('-' when not recorded)."""
    spans = meta.get("spans", (meta.get("data") or {}).get("spans") if isinstance(meta.get("data"), dict) else None)
    if not isinstance(spans, list) or not spans:
        span = (meta.get("data") or {}).get("span") if isinstance(meta.get("data"), dict) else None
        return "-" if span is None else str(span)
    spans = sorted(int(s) for s in spans)
    if spans == list(range(spans[0], spans[-1] + 1)):
        return str(spans[0]) if len(spans) == 1 else f"{spans[0]}-{spans[-1]}"
    return ",".join(str(s) for s in spans)


def lineage_lines(meta: dict) -> list[str]:
    """What `show` prints about where a version comes from: spans, eval span, parent, run, data, golden set."""
    data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    eval_span = meta.get("eval_span", data.get("eval_span", data.get("span")))
    parent = meta.get("parent_version")
    warm = meta.get("warm_start") if isinstance(meta.get("warm_start"), dict) else {}
    lines = [f"  trained on spans: {span_range(meta)}   eval span: {'-' if eval_span is None else eval_span}",
             f"  parent version: {parent if parent is not None else '-'}"
             + (f" (warm start: {warm['reason']})" if warm.get("reason") else ""),
             f"  pipeline run: {_run(meta)}"]
    for row in data.get("training_data") or []:
        lines.append(f"  data span {row.get('span')}: fingerprint {row.get('input_fingerprint') or '-'}  "
                     f"({row.get('examples_uri')})")
    golden = meta.get("golden") if isinstance(meta.get("golden"), dict) else None
    if golden and golden.get("golden_root"):
        lines.append(f"  golden set: {golden['golden_root']}: {golden.get('summary', '')}")
        cand, base = golden.get("candidate") or {}, golden.get("baseline") or {}
        names = [n for n in ("video_accuracy", "video_auc", "video_log_loss", "frame_auc", "videos") if n in cand]
        lines.append("    " + " ".join(f"{n}={_fmt_num(cand[n])}" + (f" (baseline {_fmt_num(base[n])})"
                                                                      if n in base else "") for n in names))
    elif golden:
        lines.append(f"  golden set: {golden.get('summary') or 'none'}")
    else:
        lines.append("  golden set: none recorded")
    return lines


def _size(n) -> str:
    if not isinstance(n, (int, float)):
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _status(reg: Registry, name: str, listed: list[VersionRecord] | None = None) -> dict:
    """What ``list`` says of one model (``listed``: its ``reg.versions(name)`` when the caller has it)."""
    versions = [m.version for m in (reg.versions(name) if listed is None else listed)]
    pinned = reg.pinned(name)
    missing = pinned is not None and pinned not in versions
    return {"model": name, "versions": versions, "latest": max(versions),
            "serving": pinned if pinned is not None else max(versions), "pinned": pinned is not None,
            "pin_missing": missing}


def _pin_notes(statuses: list[dict]) -> list[str]:
    """One line per model pinned to a version that is not published (nothing is served for it)."""
    return [f"! {s['model']} is pinned to version {s['serving']}, which is not published (published: "
            f"{', '.join(str(v) for v in s['versions'])}): nothing valid is served; `skyhawk registry pin "
            f"{s['model']}@VERSION` or `unpin {s['model']}` repairs it" for s in statuses if s["pin_missing"]]


def _registry(args: argparse.Namespace) -> Registry:
    reg = Registry(args.root or os.environ.get("SKYHAWK_REGISTRY") or DEFAULT_ROOT)
    if not reg.exists():
        raise RegistryError(f"no registry at {reg.root} (nothing published there yet; check --root or "
                            "$SKYHAWK_REGISTRY)")
    return reg


def _print_json(out: object) -> int:
    print(json.dumps(out, indent=2, sort_keys=True, default=str))
    return 0


def list_(args: argparse.Namespace) -> int:
    """``list``: the models, or with NAME the versions of one model."""
    return list_versions(args) if args.name else list_models(args)


def list_models(args: argparse.Namespace) -> int:
    reg = _registry(args)
    out = [_status(reg, n) for n in reg.models()]
    if args.json:
        return _print_json(out)
    if not out:
        print(f"no models in {reg.root}")
        return 0
    rows = [["MODEL", "VERSIONS", "LATEST", "SERVING", "PINNED"]]
    rows += [[s["model"], str(len(s["versions"])), str(s["latest"]),
              f"{s['serving']} (missing!)" if s["pin_missing"] else str(s["serving"]),
              "yes" if s["pinned"] else "no"] for s in out]
    print(_table(rows))
    for line in _pin_notes(out):
        print(line)
    return 0


def list_versions(args: argparse.Namespace) -> int:
    reg = _registry(args)
    versions = reg.versions(args.name)
    status = _status(reg, args.name, versions)
    metas = [v.as_dict() for v in versions]  # the stored JSON objects, what the columns read
    if args.json:
        return _print_json({**status, "metadata": metas})
    rows = [["", "VERSION", "CREATED", "BLESSED", "SPANS", "THRESHOLD", "METRICS", "RUN", "SIZE"]]
    for v, m in zip(versions, metas, strict=True):
        mark = ("*" + ("p" if status["pinned"] else "")) if v.version == status["serving"] else ""
        if v.usable is False:
            mark = "!"
        rows.append([mark, str(v.version), (v.created_at or "-")[:19], _blessed(m), span_range(m),
                     _fmt_num("-" if v.threshold is None else v.threshold), _metrics(m), _run(m),
                     _size(v.size_bytes)])
    print(_table(rows))
    for v in versions:
        if v.usable is False:
            print(f"! version {v.version} is unusable: {v.problem}")
    for line in _pin_notes([status]):
        print(line)
    print(f"(* = serving{', p = pinned' if status['pinned'] else ''}; {reg.model_dir(args.name)})")
    return 0


def show(args: argparse.Namespace) -> int:
    reg = _registry(args)
    name, version = parse_ref(args.ref, need_version=False)
    record = reg.show(name, version)
    status = _status(reg, name)
    meta = record.as_dict()  # the stored JSON object, what the lineage lines read
    serving = record.version == status["serving"]
    out = {**meta, "serving": serving, "pinned": status["pinned"] and serving}
    if args.json:
        return _print_json(out)
    flags = "serving, pinned" if out["pinned"] else "serving" if serving else "not serving"
    print(f"{name}@{record.version} ({flags})")
    print(f"  uri: {record.uri}")
    print(f"  created: {record.created_at or '-'}   blessed: {_blessed(meta)}   "
          f"threshold: {_fmt_num('-' if record.threshold is None else record.threshold)}")
    print(f"  files: {len(record.files)} ({_size(record.size_bytes)})")
    for line in lineage_lines(meta):
        print(line)
    rest = {k: v for k, v in meta.items()
            if k not in ("model_name", "version", "uri", "created_at", "files", "size_bytes")}
    for line in json.dumps(rest, indent=2, sort_keys=True, default=str).splitlines()[1:-1]:
        print(line)
    return 0


def pin(args: argparse.Namespace) -> int:
    reg = _registry(args)
    name, version = parse_ref(args.ref, need_version=True)
    before = reg.serving(name)
    reg.pin(name, version)
    if args.json:
        return _print_json({**_status(reg, name), "previous": before})
    print(f"pinned {name}@{version} (was serving {before})")
    return 0


def unpin(args: argparse.Namespace) -> int:
    reg = _registry(args)
    try:
        before: object = reg.serving(args.name)
    except RegistryError:  # a corrupt pin file: unpin is the repair
        before = "unknown: the pin file was corrupt"
    reg.unpin(args.name)
    out = {**_status(reg, args.name), "previous": before}
    if args.json:
        return _print_json(out)
    print(f"unpinned {args.name}: serving latest {out['serving']} (was {before})")
    return 0


def rollback(args: argparse.Namespace) -> int:
    reg = _registry(args)
    before = reg.serving(args.name)
    version = reg.rollback(args.name)
    if args.json:
        return _print_json({**_status(reg, args.name), "previous": before})
    print(f"rolled back {args.name}: {before} -> {version} (pinned; `skyhawk registry unpin {args.name}` "
          "to follow the latest again)")
    return 0


def config(args: argparse.Namespace) -> int:
    reg = _registry(args)
    path = reg.write_models_config()
    text = fileio.read_text(path)  # what was just written, not a second build
    if args.json:
        return _print_json({"path": path, "config": text})
    print(text, end="")
    return 0
