"""The resize filters an original's reference pipeline uses, in numpy, against the libraries that define them:
torch (bicubic, antialiased bicubic, bilinear with aligned corners), OpenCV (INTER_CUBIC) and Pillow (LANCZOS)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from runtime.resize import FILTERS, filter_of, resize

IMAGE = np.random.default_rng(0).integers(0, 256, (37, 53, 3)).astype(np.uint8)
SIZES = [(19, 24), (37, 53), (80, 130)]  # shrink, same, enlarge


def _torch(image: np.ndarray, size: tuple[int, int], **kwargs) -> np.ndarray:
    batch = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    return F.interpolate(batch, size=size, **kwargs)[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("size", SIZES)
def test_bicubic_is_torchs_and_opencvs(size):
    got = resize(IMAGE, *size, "bicubic")
    assert np.abs(got - _torch(IMAGE, size, mode="bicubic", align_corners=False)).max() < 5e-3
    opencv = cv2.resize(IMAGE.astype(np.float64), (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
    assert np.abs(got - opencv).max() < 5e-3


@pytest.mark.parametrize("size", SIZES)
def test_antialiased_bicubic_is_torchs(size):
    reference = _torch(IMAGE, size, mode="bicubic", align_corners=False, antialias=True)
    assert np.abs(resize(IMAGE, *size, "bicubic-antialias") - reference).max() < 5e-3


@pytest.mark.parametrize("size", SIZES)
def test_bilinear_align_corners_is_torchs(size):
    reference = _torch(IMAGE, size, mode="bilinear", align_corners=True)
    assert np.abs(resize(IMAGE, *size, "bilinear-align-corners") - reference).max() < 5e-3


@pytest.mark.parametrize("size", SIZES)
def test_lanczos_is_pillows_on_8_bit_images(size):
    reference = np.asarray(Image.fromarray(IMAGE).resize((size[1], size[0]), Image.LANCZOS)).astype(np.float32)
    difference = np.abs(resize(IMAGE, *size, "lanczos-pil") - reference)
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01  # Pillow's fixed point rounds a few ±1


def test_unknown_filters_are_one_line():
    assert filter_of({}) == "bilinear" and filter_of({"resize": {"filter": "bicubic"}}) == "bicubic"
    assert set(FILTERS) >= {"bilinear", "bicubic", "bicubic-antialias", "bilinear-align-corners", "lanczos-pil"}
    with pytest.raises(ValueError, match="unknown resize filter 'sinc'"):
        filter_of({"name": "image", "resize": {"filter": "sinc"}})
    with pytest.raises(ValueError, match="unknown resize filter"):
        resize(IMAGE, 4, 4, "sinc")


def test_the_manifest_check_knows_every_filter(tmp_path):
    from runtime.bundle import RESIZE_FILTERS, manifest_problem
    from tests.helpers import minimal_manifest

    assert set(RESIZE_FILTERS) == set(FILTERS)
    manifest = minimal_manifest()
    manifest["inputs"][0]["resize"] = {"filter": "bicubic-antialias"}
    assert manifest_problem({**manifest, "files": {}}) is None or "resize" not in manifest_problem(
        {**manifest, "files": {}})
    manifest["inputs"][0]["resize"] = {"filter": "sinc"}
    assert "inputs[0].resize" in (manifest_problem({**manifest, "files": {}}) or "")
