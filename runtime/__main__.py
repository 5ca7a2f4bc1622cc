"""Device-side CLI: `python -m runtime info BUNDLE`, `python -m runtime bench BUNDLE... --threads N`,
`python -m runtime runners`, `python -m runtime predict BUNDLE PHOTO... --out DIR`, `python -m runtime portrait
BUNDLE PHOTO --out FILE`. Needs numpy and one backend; bad input gives one line on stderr and exit code 2, an
operating-system failure on the way (a full disk) one line and exit 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from runtime.bundle import Bundle, BundleError, load_bundle
from runtime.cli_types import OneLineParser, count, positive_int, thread_count
from runtime.errors import own_line
from runtime.gate import failed_rows
from runtime.measure import size_mb
from runtime.predict_cli import add_portrait_args, add_predict_args, run_portrait, run_predict
from runtime.rows import bundle_row, format_value
from runtime.signals import interrupted, terminate_as_interrupt

PROG = "python -m runtime"


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    parser = OneLineParser(prog=PROG, description="Run and time edgedepth bundles on this device.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    info = sub.add_parser("info", help="print a bundle's manifest summary and verify its sha256s")
    info.add_argument("bundles", nargs="+", type=Path, metavar="BUNDLE")
    bench = sub.add_parser("bench", help="time bundles on random inputs that match their manifests")
    bench.add_argument("bundles", nargs="+", type=Path, metavar="BUNDLE")
    bench.add_argument("--threads", type=thread_count, default=1, help="intra-op threads (default 1)")
    bench.add_argument("--warmup", type=count, default=10, help="untimed runs first (default 10)")
    bench.add_argument("--iters", type=positive_int, default=50, help="timed runs (default 50)")
    bench.add_argument("--min-seconds", type=float, default=0.0, help="keep timing at least this long")
    bench.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    bench.add_argument("--json", type=Path, metavar="OUT",
                       help="write the results to OUT ('-': JSON alone on stdout); never inside a bundle")
    bench.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    sub.add_parser("runners", help="list the runners and whether each can run here")
    predict = sub.add_parser("predict", help="run a bundle on your photos (or stereo pairs): depth pictures, "
                             "16-bit PNG, .npy, .pfm, point clouds", description="Run a bundle on photos and write "
                             "its output at each photo's resolution. Needs numpy, Pillow and the bundle's backend.")
    add_predict_args(predict)
    portrait = sub.add_parser("portrait", help="synthetic shallow depth of field from the bundle's depth",
                              description="Blur each depth layer by its distance from the focus (thin lens, disc "
                              "bokeh), composited back to front so the subject's edges stay clean.")
    add_portrait_args(portrait)
    return parser


def _shown(value: Any) -> str:
    """A manifest value as a terminal may show it: control characters and escape sequences escaped, never sent."""
    text = str(value)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _cmd_info(args: argparse.Namespace) -> int:
    for path in args.bundles:
        bundle = load_bundle(path, in_progress=False)
        m = bundle.manifest
        print(_shown(f"{bundle.name}  ({bundle.path})"))
        print(_shown(f"  format {bundle.format} · precision {bundle.precision} · task {bundle.task} · "
                     f"{size_mb(bundle.model_path):.2f} MB · model {bundle.model_path.name}"))
        for spec in bundle.inputs:
            norm = spec["normalization"]
            norm_text = (norm if isinstance(norm, str)
                         else f"scale {norm['scale']:.6g}, mean {norm['mean']}, std {norm['std']}")
            print(_shown(f"  input  {spec['name']}: {spec['shape']} {spec['dtype']} {spec['layout']} ({norm_text})"))
        for spec in bundle.outputs:
            quant = f", quant {spec['quant']}" if spec.get("quant") else ""
            print(_shown(f"  output {spec['name']}: {spec['shape']} {spec['dtype']} {spec['kind']}{quant}"))
        source = m.get("source") or {}
        print(_shown(f"  source toolkit {source.get('toolkit_version')}"
                     f" · checkpoint {str(source.get('checkpoint_sha256'))[:16]}"
                     f" · calibration {str(source.get('calibration_sha256'))[:16]}"))
        print(f"  files  {len(m['files'])} listed, sha256 verified; manifest digest verified")
    return 0


def _bench_one(bundle: Bundle, args: argparse.Namespace) -> dict[str, Any]:
    from runtime.feeds import random_inputs
    from runtime.measure import Timing, measure_bundle

    measured = measure_bundle(bundle, args.threads, feed=lambda b: random_inputs(b, args.seed),
                              timing=Timing(args.warmup, args.iters, args.min_seconds))
    return bundle_row(bundle, measured.backend, args.threads, **measured.status_fields(), **measured.latency_fields())


def bench_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of bench rows (what a terminal on the device shows)."""
    headers = ["Artifact", "Format", "Precision", "Backend", "Status", "Size MB", "init ms", "p50 ms",
               "p90 ms", "p99 ms", "FPS"]
    lines = [[r["artifact"], r["format"], r["precision"], r["backend"] or "—",
              r["status"],
              format_value(r.get("size_mb"), "size"), format_value(r.get("init_ms"), "fps"),
              *(format_value((r.get("latency_ms") or {}).get(k), "ms") for k in ("p50", "p90", "p99")),
              format_value(r.get("fps"), "fps")] for r in rows]
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *lines, strict=True)]
    text = [" ".join(str(c).ljust(w) if i < 5 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                                  strict=True)))
            for row in [headers, *lines]]
    text += [f"{r['artifact']}: {r['status']}: {r['reason']}" for r in rows if r["status"] != "ok"]
    return "\n".join(text)


def _json_target(path: Path, force: bool) -> None:
    """Refuse a --json file that exists without --force, is a folder, or lies where nothing may be written."""
    from runtime.atomic import writable
    from runtime.errors import OverwriteRefused

    if path.is_dir():
        raise BundleError(f"{path} is a folder; --json names the file to write")
    if (path.exists() or path.is_symlink()) and not force:
        raise OverwriteRefused(f"{path} already exists (use --force to overwrite)")
    writable(path.parent)


def _cmd_bench(args: argparse.Namespace) -> int:
    from runtime.bench import machine_info, set_thread_env
    from runtime.threads import capped_threads

    args.threads = capped_threads(args.threads)  # what every row really runs on
    set_thread_env(args.threads)
    # all verified before anything is timed
    bundles = [load_bundle(path, in_progress=False) for path in args.bundles]
    if args.json is not None and str(args.json) != "-":
        _json_target(args.json, args.force)  # refused before the timing, not after it
    rows = [_bench_one(bundle, args) for bundle in bundles]
    result = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(args.threads),
        "settings": {"threads": args.threads, "warmup": args.warmup, "iters": args.iters,
                     "min_seconds": args.min_seconds, "seed": args.seed,
                     "inputs": "random, matching the manifest"},
        "rows": rows,
    }
    table = bench_table(rows)
    if args.json is not None and str(args.json) == "-":
        from runtime.jsonsafe import json_safe

        print(table, file=sys.stderr)
        print(json.dumps(json_safe(result), indent=2, ensure_ascii=False))
    else:
        print(table)
        if args.json is not None:
            from runtime.atomic import atomic_write_json

            atomic_write_json(args.json, result)
            print(f"wrote {args.json}")
        else:
            from runtime.jsonsafe import json_safe

            print(json.dumps(json_safe(result), indent=2, ensure_ascii=False))
    return 1 if failed_rows(rows) else 0


def _cmd_runners(args: argparse.Namespace) -> int:
    from runtime.runners.registry import get_runner, list_runners

    names = list_runners()
    width = max(map(len, names))
    for name in names:
        cls = get_runner(name)
        ok, reason = cls.available()
        state = "available" if ok else f"unavailable: {reason}"
        role = " (CPU emulation: numerics only)" if cls.emulates else ""
        print(f"{name:{width}s}  formats {', '.join(cls.formats):10s} {state}{role}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (2 for bad input, 1 when a bundle failed to run or the system
    failed a read or write)."""
    args = build_parser().parse_args(argv)
    commands = {"info": _cmd_info, "bench": _cmd_bench, "runners": _cmd_runners,
                "predict": lambda a: run_predict(a, PROG), "portrait": lambda a: run_portrait(a, PROG)}
    try:
        with terminate_as_interrupt():
            return commands[args.command](args)
    except KeyboardInterrupt as exc:
        return interrupted(PROG, exc)
    except BundleError as exc:
        print(f"{PROG}: error: {own_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine's, not the user's: a full disk, a folder gone on the way
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"{PROG}: error: {exc.strerror or str(exc).splitlines()[0] or type(exc).__name__}{where}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
