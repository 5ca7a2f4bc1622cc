"""`python -m runtime predict` on an original's fp32 bundle gives what the torch teacher gives when it is run at
the bundle's input size on the same photo: the manifest's resize filters reproduce the family's pipeline."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from edgedepth.data.sample import StereoSample
from edgedepth.teachers import create_teacher
from runtime.__main__ import main as runtime_main
from tests.originals.families import build, export_rows


def photo(height: int, width: int) -> np.ndarray:
    """A smooth photo-like RGB image with edges (gradients, a disc, a bar), seeded noise on top."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 255 * cols / width
    green = np.where((rows - height / 2) ** 2 + (cols - width / 3) ** 2 < (height / 4) ** 2, 220.0, 40.0)
    blue = np.where(np.abs(cols - 0.7 * width) < width / 10, 200.0, 255 * rows / height)
    noise = np.random.default_rng(0).normal(0, 6, (height, width, 3))
    return np.clip(np.stack([red, green, blue], -1) + noise, 0, 255).astype(np.uint8)


def teacher_at_bundle_size(original) -> object:
    """The original's own teacher, set to run at the bundle's input size (the reference the bundle must match)."""
    spec, family = original.spec, original.family
    height, width = original.input_size
    if family == "depth-anything":
        teacher = create_teacher(spec)
        teacher.preprocess = dataclasses.replace(teacher.preprocess, height=height, width=width, resize="stretch",
                                                 multiple=1)
        return teacher
    if family == "midas-v2.1-small":  # the official upper-bound resize of a 2:3 photo to `size` gives 2:3
        return create_teacher(spec, size=max(height, width))
    return create_teacher(spec)  # Monodepth2 resizes to its encoder's size, the bundle's


@pytest.mark.slow
@pytest.mark.parametrize("family", ["depth-anything", "midas-v2.1-small", "monodepth2"])
def test_runtime_predict_matches_the_torch_teacher(family, tmp_path):
    original = build(family, tmp_path)
    bundle = export_rows(original, tmp_path / "bundles", ("onnx",))["onnx"]["bundle"]
    image = photo(128, 192)
    Image.fromarray(image).save(tmp_path / "photo.png")
    code = runtime_main(["predict", str(bundle.path), str(tmp_path / "photo.png"), "--out", str(tmp_path / "out"),
                         "--save", "npy", "--threads", "1"])
    assert code == 0
    got = np.load(tmp_path / "out" / "photo.npy")
    reference = teacher_at_bundle_size(original).predict(StereoSample(name="photo", left=image, right=None)).value
    assert got.shape == reference.shape == image.shape[:2]
    span = float(reference.max() - reference.min())
    assert span > 0
    assert float(np.abs(got - reference).max()) <= 1e-3 * span, (family, float(np.abs(got - reference).max()) / span)
