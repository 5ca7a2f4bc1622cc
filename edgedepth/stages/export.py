"""The export stage: one bundle per (format, precision) from a student checkpoint, calibrated on the data the
student was distilled on; exports that produce no bundle are recorded so the measuring stage reports them."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgedepth.checkpoint import checkpoint_sha256, load_student
from edgedepth.data.calibration import calibration_inputs, training_images
from edgedepth.errors import EdgeDepthError
from edgedepth.originals import Original
from edgedepth.specs import input_specs
from export.base import ExportRequest
from export.registry import get_exporter, list_formats
from quantize.registry import get_method, method_for_format
from runtime.atomic import is_temporary
from runtime.bundle import Bundle, load_bundle
from runtime.errors import one_line
from runtime.jsonsafe import as_float
from runtime.resize import DEFAULT_FILTER


@dataclass
class ExportFailure:
    """A (format, precision) that produced no bundle, and why: it becomes a failed/skipped report row."""

    name: str
    format: str
    precision: str
    status: str  # "failed" | "skipped"
    reason: str


def export_student(checkpoint: Path, out_dir: Path, fmt: str = "onnx", precision: str = "fp32",
                   layout: str = "NCHW", calibration_samples: int = 32, seed: int = 0,
                   force: bool = False) -> Bundle:
    """Export the student in `checkpoint` to one `<fmt>-<precision>` bundle under `out_dir`."""
    return ExportSource.of_student(checkpoint, calibration_samples, seed).export(out_dir, fmt, precision, layout,
                                                                                 force)


@dataclass
class ExportSource:
    """A loaded model (a student, or an original teacher network) and its calibration set (made once, on first
    need) for a series of exports."""

    model: Any
    info: Any
    sha256: str
    calibration_samples: int
    seed: int
    images: str | None = None  # calibration photos (None: the data the model was distilled on, else procedural)
    origin: dict[str, Any] | None = None
    filters: tuple[str, str] = (DEFAULT_FILTER, DEFAULT_FILTER)
    output_size: tuple[int, int] | None = None  # an original's output h×w where it is not its input's
    _calibration: list | None = None

    @classmethod
    def of_student(cls, checkpoint: Path, samples: int = 32, seed: int = 0) -> ExportSource:
        """A student checkpoint (a missing or corrupt one is the user's error, one line)."""
        model, info = load_student(checkpoint)
        return cls(model, info, checkpoint_sha256(checkpoint), samples, seed)

    @classmethod
    def of_original(cls, original: Original, samples: int = 32, seed: int = 0,
                    images: str | None = None) -> ExportSource:
        """A teacher network at its fixed export size, calibrated on `images` or procedural scenes."""
        return cls(original.module, original.info(), original.sha256, samples, seed, images, original.origin(),
                   (original.input_filter, original.output_filter), original.output_size)

    def calibration(self) -> list:
        """The calibration inputs, prepared as the bundle's inputs are (made on first call)."""
        if self._calibration is None:
            folder, files = (self.images, None) if self.images else training_images(self.info)
            self._calibration = calibration_inputs(input_specs(self.info), self.calibration_samples, self.seed,
                                                   folder, files)
        return self._calibration

    def export(self, out_dir: Path, fmt: str, precision: str, layout: str, force: bool) -> Bundle:
        exporter = get_exporter(fmt)
        exporter.check_model(self.model)  # before calibrating for a format that cannot take this model at all
        calibration = self.calibration() if exporter.precision(precision).calibrated else None
        # Each exporter gets its own copy: tracing, fusing and quantization may rewrite the module.
        request = ExportRequest(copy.deepcopy(self.model), self.info, self.sha256, name=f"{fmt}-{precision}",
                                layout=layout, precision=precision, calibration=calibration, origin=self.origin,
                                filters=self.filters, output_size=self.output_size)
        return exporter.export(request, Path(out_dir), force=force)


Exports = dict[str, list[str]]  # format → precisions; "all" as a format or a precision stands for every one


def exports_of(formats: list[str], precisions: list[str]) -> Exports:
    """The same precisions for every format (what --format/--precision ask for)."""
    return {fmt: list(precisions) for fmt in dict.fromkeys(formats)}


def plan_exports(exports: Exports) -> list[tuple[str, str]]:
    """(format, precision) pairs to export; the format "all" expands to every registered format, the precision
    "all" to every precision a format writes. Pairs a format cannot write are kept: they become skipped rows that
    say so. An unknown format or precision is an error."""
    known = {p for fmt in list_formats() for p in get_exporter(fmt).precisions}
    unknown = sorted({p for wanted in exports.values() for p in wanted} - known - {"all"})
    if unknown:
        raise EdgeDepthError(f"unknown precision {', '.join(unknown)} (known: all, {', '.join(sorted(known))})")
    plan: list[tuple[str, str]] = []
    for fmt, wanted in exports.items():
        for name in list_formats() if fmt == "all" else [fmt]:
            supported = get_exporter(name).precisions
            plan.extend((name, p) for p in (supported if "all" in wanted else wanted) if (name, p) not in plan)
    return plan


def export_many(source: Path | ExportSource, out_dir: Path, exports: Exports, layout: str = "NCHW",
                calibration_samples: int = 32, seed: int = 0, force: bool = False,
                report=print) -> tuple[list[Bundle], list[ExportFailure]]:
    """One bundle per (format, precision) of `exports` from a student checkpoint or an ExportSource; a missing
    library or a failing conversion costs only its own row."""
    plan = plan_exports(exports)
    if not isinstance(source, ExportSource):  # a missing or corrupt checkpoint is the user's error, not a row
        source = ExportSource.of_student(source, calibration_samples, seed)
    bundles: list[Bundle] = []
    failures: list[ExportFailure] = []
    for fmt, precision in plan:
        name = f"{fmt}-{precision}"
        exporter = get_exporter(fmt)
        ok, why = exporter.available()
        if not ok:
            failures.append(ExportFailure(name, fmt, precision, "skipped", why))
        elif precision not in exporter.precisions:
            failures.append(ExportFailure(name, fmt, precision, "skipped",
                                          f"{fmt} exports {', '.join(exporter.precisions)}, not {precision}"))
        else:
            try:
                bundle = source.export(out_dir, fmt, precision, layout, force)
            except (FileExistsError, KeyboardInterrupt):
                raise
            except Exception as exc:  # one failing conversion must not take the other formats down
                failures.append(ExportFailure(name, fmt, precision, "failed", one_line(exc)))
            else:
                bundles.append(bundle)
                report(f"wrote {bundle.path}  ({_parity_text(bundle.manifest.get('parity', {}))})")
                continue
        report(f"{failures[-1].status} {name}: {failures[-1].reason}")
    return bundles, failures


EXPORT_INDEX = "exports.json"


def record_failures(out_dir: Path, bundles: list[Bundle], failures: list[ExportFailure]) -> None:
    """Keep `out_dir/exports.json` listing exports that produced no bundle, so verify can report them:
    entries of earlier runs stay unless this run wrote that bundle or failed it again."""
    from runtime.atomic import atomic_write_json

    index = Path(out_dir) / EXPORT_INDEX
    kept = {entry["name"]: entry for entry in load_failures(out_dir, as_dicts=True)}
    for bundle in bundles:
        kept.pop(bundle.name, None)
    kept.update({f.name: asdict(f) for f in failures})
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_json(index, {"failures": list(kept.values())})


def load_failures(bundles_dir: Path, as_dicts: bool = False) -> list:
    """The failures recorded in `bundles_dir/exports.json` (none when the file is absent)."""
    import json

    index = Path(bundles_dir) / EXPORT_INDEX
    if not index.is_file():
        return []
    try:
        entries = json.loads(index.read_text())["failures"]
    except (ValueError, KeyError, TypeError) as exc:
        raise EdgeDepthError(f"{index} is not a valid export index ({exc})") from exc
    return entries if as_dicts else [ExportFailure(**entry) for entry in entries]


def _parity_text(parity: dict) -> str:
    """One line for the parity a bundle's manifest holds (PSNR may read back as "inf": outputs identical)."""
    if "max_abs_rel" not in parity:
        return f"parity {parity.get('status', 'not measured')}: {parity.get('reason', '')}".rstrip(": ")
    worst, psnr = as_float(parity["max_abs_rel"]), as_float(parity.get("psnr_db"))
    vs = str(parity.get("vs", "torch")).replace("-fp32", "").replace("-bundle", "")
    return (f"vs {vs}: max |Δ|/range {'?' if worst is None else f'{worst:.2e}'}, "
            f"PSNR {'?' if psnr is None else f'{psnr:.1f}'} dB")


def quantize_student(fp32: Bundle, out_dir: Path, samples: int = 32, seed: int = 0, method: str | None = None,
                     force: bool = False, images: str | None = None) -> Bundle:
    """Quantize an fp32 bundle with `method` (default: the format's), calibrated on procedural scenes or on the
    photos in `images`; the new bundle is named `<format>-<precision>`, as `export` names it."""
    name = method or method_for_format(fp32.format)
    chosen = get_method(name)
    if chosen.format != fp32.format:
        raise EdgeDepthError(f"method '{name}' applies to {chosen.format} bundles, not {fp32.format}")
    calibration = calibration_inputs(fp32.inputs, samples, seed, images) if chosen.calibrated else []
    return chosen.quantize_bundle(fp32, calibration, Path(out_dir), f"{fp32.format}-{chosen.precision}", force=force)


def find_bundles(paths: list[Path]) -> list[Bundle]:
    """Bundles named directly or found one level below the given directories (sha256-checked)."""
    found: list[Bundle] = []
    for path in paths:
        path = Path(path)
        if (path / "manifest.json").exists():
            found.append(load_bundle(path, in_progress=False))
        elif path.is_dir():  # an unfinished export's hidden .partial folder is no bundle: never measured
            found.extend(load_bundle(p.parent, in_progress=False) for p in sorted(path.glob("*/manifest.json"))
                         if not is_temporary(p.parent.name))
        else:
            raise EdgeDepthError(f"no bundle at {path}")
    if not found:
        raise EdgeDepthError(f"no bundle found under {', '.join(str(p) for p in paths)}")
    return found
