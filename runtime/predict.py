"""Run a bundle on a user's photos (or stereo pairs) and write what they asked for at each photo's resolution:
depth pictures, 16-bit PNG, .npy, .pfm, point clouds, portrait bokeh. numpy, Pillow and the bundle's backend."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.bundle import Bundle
from runtime.errors import BundleError, InputError, one_line
from runtime.fit import plan_fit
from runtime.images import PREDICT_MAX_PIXELS, read_image
from runtime.preprocess import input_hwc, prepare_input
from runtime.resize import filter_of
from runtime.runners.base import shape_matches
from runtime.runners.registry import runner_for_format

STEREO_INPUTS = ("left", "right")


def is_stereo(bundle: Bundle) -> bool:
    """Whether the bundle takes a rectified pair (inputs named left and right) rather than one image."""
    return [spec["name"] for spec in bundle.inputs] == list(STEREO_INPUTS)


@dataclass
class PhotoOutput:
    """The bundle's output for one photo (or pair), mapped back to the photo's resolution: the map, its kind, the photo
    itself and the model's latency."""

    name: str
    values: np.ndarray
    kind: str
    image: np.ndarray
    latency_ms: float


@dataclass
class Predictor:
    """A bundle loaded once on its runner; `predict` maps photos through the chosen fit rule and back."""

    bundle: Bundle
    threads: int = 1
    fit: str = "stretch"
    _runner: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        cls = runner_for_format(self.bundle.format)
        ok, reason = cls.available()
        if not ok:
            raise InputError(f"cannot run {self.bundle.format} bundles here: {reason}")
        try:
            for spec in self.bundle.inputs:
                input_hwc(spec)
        except ValueError as exc:
            raise InputError(f"bundle {self.bundle.name}: {exc}") from None
        self._runner = cls()
        try:
            self._runner.load(self.bundle, threads=self.threads)
        except BundleError:
            raise
        except Exception as exc:  # the backend's own error for a model file it cannot read: one line
            raise BundleError(f"bundle {self.bundle.name}: {cls.name} cannot load {self.bundle.model_path.name} "
                              f"({one_line(exc, 300)})") from None

    @property
    def kind(self) -> str:
        return self.bundle.outputs[0]["kind"]

    def predict(self, name: str, images: list[np.ndarray]) -> PhotoOutput:
        """The output for one photo (or one left/right pair, which must be the same size)."""
        if len(images) != len(self.bundle.inputs):
            what = "a left/right pair" if is_stereo(self.bundle) else "one image"
            raise InputError(f"{self.bundle.name} takes {what}, got {len(images)} image(s) for {name}")
        if any(image.shape[:2] != images[0].shape[:2] for image in images):
            sizes = " and ".join(f"{i.shape[1]}×{i.shape[0]}" for i in images)
            raise InputError(f"{name}: left and right differ in size ({sizes})")
        height, width, _ = input_hwc(self.bundle.inputs[0])
        filters = (filter_of(self.bundle.inputs[0]), filter_of(self.bundle.outputs[0]))
        fit = plan_fit(self.fit, images[0].shape[:2], (height, width), filters)
        feed = {spec["name"]: prepare_input(fit.to_model(image), spec)
                for spec, image in zip(self.bundle.inputs, images, strict=True)}
        start = time.perf_counter()
        try:
            outputs = self._runner.infer(feed)
        except BundleError:
            raise
        except Exception as exc:  # a model that disagrees with its manifest (an element type, a rank) at run time
            raise BundleError(f"bundle {self.bundle.name}: {self._runner.name} cannot run {self.bundle.model_path.name}"
                              f" on the manifest's inputs ({one_line(exc, 300)})") from None
        latency = (time.perf_counter() - start) * 1000.0
        output = checked_output(outputs[self.bundle.outputs[0]["name"]], self.bundle, name)
        return PhotoOutput(name, fit.to_photo(output, self.kind), self.kind, images[0], latency)

    def close(self) -> None:
        self._runner.close()


def checked_output(output: np.ndarray, bundle: Bundle, name: str) -> np.ndarray:
    """The model's first output when it has the shape the manifest declares and finite values: a map of another
    size would be stretched onto the photo unnoticed, and a NaN map is an error, not a file."""
    spec = bundle.outputs[0]
    output = np.asarray(output)
    if not shape_matches(output.shape, spec["shape"]):
        raise BundleError(f"bundle {bundle.name}: the model's output '{spec['name']}' has shape "
                          f"{list(output.shape)}, the manifest declares {spec['shape']}")
    if output.dtype.kind == "f" and not np.isfinite(output).all():
        bad = int(np.count_nonzero(~np.isfinite(output)))
        raise BundleError(f"bundle {bundle.name}: the model's output for {name} holds {bad:,} NaN or infinite "
                          f"value(s) of {output.size:,}; nothing written")
    return output


Job = tuple[str, list[Path]]  # output name, and the photo (or left and right) it is predicted from


def pair_inputs(inputs: list[Path], left: Path | None, right: Path | None, stereo: bool) -> list[Job]:
    """(name, files) per prediction: each photo alone, or left/right files or folders matched by file name."""
    from runtime.images import expand_inputs, list_images

    if not stereo:
        if left is not None or right is not None:
            raise InputError("--left/--right are for stereo bundles; give the photos as arguments")
        if not inputs:
            raise InputError("no input: give photos or folders")
        return [(path.stem, [path]) for path in expand_inputs(inputs)]
    if inputs or left is None or right is None:
        raise InputError("a stereo bundle takes --left and --right (two files, or two folders of pairs)")
    if left.is_dir() != right.is_dir():
        raise InputError("--left and --right must both be files or both be folders")
    if not left.is_dir():
        return [(left.stem, [left, right])]
    lefts, rights = list_images(left), list_images(right)
    unmatched = sorted(set(lefts) ^ set(rights))
    if unmatched:
        raise InputError(f"left and right folders do not pair up: {', '.join(unmatched[:3])} has no partner")
    return [(Path(name).stem, [left / name, right / name]) for name in lefts]


def unique_names(jobs: list[Job]) -> None:
    """Refuse two inputs that would write the same output names (photo.jpg and photo.png)."""
    seen: dict[str, Path] = {}
    for name, files in jobs:
        if name in seen:
            raise InputError(f"{seen[name]} and {files[0]} would write the same outputs ({name}.*)")
        seen[name] = files[0]


def read_job(files: list[Path], max_pixels: int = PREDICT_MAX_PIXELS, purpose: str = "predict") -> list[np.ndarray]:
    """The photos of one prediction, read and checked (at most `max_pixels` each: the command's memory bound)."""
    return [read_image(path, max_pixels=max_pixels, purpose=purpose) for path in files]


class Progress:
    """A one-line progress count on stderr when it is a terminal (silent otherwise)."""

    def __init__(self, total: int) -> None:
        self.total, self.live = total, sys.stderr.isatty() and total > 1

    def step(self, done: int, name: str) -> None:
        if self.live:
            print(f"\r[{done}/{self.total}] {name[:60]:60s}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.live:
            print(file=sys.stderr)
