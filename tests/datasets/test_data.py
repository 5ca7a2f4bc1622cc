"""Data: the sample type, the Middlebury motorcycle pair, procedural scenes and the dataset registry."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edgedepth.data import (
    MOTORCYCLE_CALIBRATION,
    Calibration,
    DatasetError,
    StereoSample,
    get_dataset,
    list_datasets,
    load_motorcycle,
    make_scene,
    make_scenes,
    scene_seed,
)
from edgedepth.data.grounded import FAR_VALID_M
from edgedepth.data.procedural import SCENE_FAMILIES, build_scene
from edgedepth.data.render import cast


def warp_right(sample: StereoSample, disparity: np.ndarray) -> np.ndarray:
    """The right image sampled at (y, x − d): the left image where the disparity is right (float64, H×W×3)."""
    height, width = sample.shape
    xs = np.arange(width, dtype=np.float32)[None, :] - disparity.astype(np.float32)
    ys = np.broadcast_to(np.arange(height, dtype=np.float32)[:, None], (height, width))
    warped = cv2.remap(sample.right, np.ascontiguousarray(xs), np.ascontiguousarray(ys), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return warped.astype(np.float64)


def photometric_error(sample: StereoSample, disparity: np.ndarray, mask: np.ndarray) -> float:
    """Mean |left − warped right| over mask after a per-channel gain/bias fit (exposures differ)."""
    warped, left = warp_right(sample, disparity)[mask], sample.left.astype(np.float64)[mask]
    errors = []
    for c in range(3):
        design = np.stack([warped[:, c], np.ones(len(warped))], axis=1)
        coef, *_ = np.linalg.lstsq(design, left[:, c], rcond=None)
        errors.append(np.abs(design @ coef - left[:, c]))
    return float(np.mean(errors))


@pytest.fixture(scope="module", params=SCENE_FAMILIES)
def scenes(request) -> list[StereoSample]:
    return make_scenes(6, seed=3, height=120, width=160, family=request.param)


@pytest.fixture(scope="module")
def motorcycle() -> StereoSample:
    return load_motorcycle()


# ------------------------------------------------------------------------------------------ the sample


def test_calibration_depth_handles_invalid_disparity():
    calib = Calibration(focal_px=100.0, baseline_m=0.5, doffs_px=10.0)
    disparity = np.array([40.0, np.inf, np.nan, -10.0, -20.0, 0.0], dtype=np.float32)
    depth = calib.depth_from_disparity(disparity)
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, [1.0, 0.0, 0.0, 0.0, 0.0, 5.0])
    masked = calib.depth_from_disparity(disparity, valid=disparity > 0)
    np.testing.assert_allclose(masked, [1.0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(calib.disparity_from_depth(np.array([1.0, 0.0, np.inf])), [40.0, 0.0, 0.0])


def test_calibration_scaling_keeps_depth():
    calib = Calibration(994.978, 0.193001, 31.086)
    half = calib.scaled(0.5)
    assert (half.focal_px, half.baseline_m, half.doffs_px) == pytest.approx((497.489, 0.193001, 15.543))
    d = np.array([10.0, 40.0], dtype=np.float32)
    np.testing.assert_allclose(half.depth_from_disparity(d * 0.5), calib.depth_from_disparity(d), rtol=1e-6)


def test_sample_rejects_mismatched_arrays():
    image = np.zeros((4, 6, 3), np.uint8)
    with pytest.raises(ValueError, match="shape"):
        StereoSample("x", image, image, disparity=np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        StereoSample("x", image.astype(np.float32), image)


# ------------------------------------------------------------------------------------------ motorcycle


def test_motorcycle_loads_offline_with_documented_size_and_calibration(motorcycle):
    from skimage import data

    assert motorcycle.shape == (500, 741)
    assert motorcycle.left.dtype == np.uint8 and motorcycle.left.shape == (500, 741, 3)
    assert motorcycle.calib == MOTORCYCLE_CALIBRATION
    assert (motorcycle.calib.focal_px, motorcycle.calib.baseline_m, motorcycle.calib.doffs_px) == (
        994.978, 0.193001, 31.086)
    raw = data.stereo_motorcycle()[2]
    assert np.isinf(raw).any() and not np.isnan(raw).any()  # the source marks unknown ground truth with +inf
    np.testing.assert_array_equal(motorcycle.valid, np.isfinite(raw))
    assert 0.90 < motorcycle.valid.mean() < 0.95
    invalid = ~motorcycle.valid
    assert np.all(motorcycle.disparity[invalid] == 0) and np.all(motorcycle.depth[invalid] == 0)
    assert np.isfinite(motorcycle.disparity).all() and np.isfinite(motorcycle.depth).all()
    assert motorcycle.nonoccluded is None


def test_motorcycle_depth_from_calibration(motorcycle):
    y, x = np.argwhere(motorcycle.valid)[12345]
    d = float(motorcycle.disparity[y, x])
    assert motorcycle.depth[y, x] == pytest.approx(994.978 * 0.193001 / (d + 31.086), rel=1e-5)
    depth = motorcycle.depth[motorcycle.valid]
    assert 2.0 < depth.min() and depth.max() < 5.1  # the bike and the wall behind it, in metres


def test_motorcycle_sign_convention(motorcycle):
    """left(y, x) ≈ right(y, x − d): the ground-truth warp explains the pair, the opposite sign does not."""
    mask = motorcycle.valid & (np.arange(741)[None, :] - motorcycle.disparity >= 0)
    right_sign = photometric_error(motorcycle, motorcycle.disparity, mask)
    zero = photometric_error(motorcycle, np.zeros_like(motorcycle.disparity), mask)
    wrong_sign = photometric_error(motorcycle, -motorcycle.disparity, mask)
    assert right_sign < 10.0  # 8.2 measured (real sensor noise, specularities, GT sub-pixel error)
    assert right_sign < 0.3 * zero and right_sign < 0.3 * wrong_sign  # 40.7 and 45.8 measured


def test_motorcycle_max_width_scales_everything(motorcycle):
    small = load_motorcycle(max_width=370)
    assert small.shape == (250, 370) and small.left.shape == (250, 370, 3)
    assert small.calib.focal_px == pytest.approx(994.978 * 370 / 741)
    assert small.calib.doffs_px == pytest.approx(31.086 * 370 / 741)
    assert small.calib.baseline_m == pytest.approx(0.193001)
    assert small.disparity.max() == pytest.approx(motorcycle.disparity.max() * 370 / 741, rel=0.02)
    np.testing.assert_allclose(small.depth[small.valid],
                               small.calib.depth_from_disparity(small.disparity)[small.valid], rtol=1e-5)
    assert np.all(small.disparity[~small.valid] == 0)
    mask = small.valid & (np.arange(370)[None, :] - small.disparity >= 0)
    assert photometric_error(small, small.disparity, mask) < 0.3 * photometric_error(
        small, np.zeros_like(small.disparity), mask)
    assert load_motorcycle(max_width=2000).shape == (500, 741)  # never enlarged


# ------------------------------------------------------------------------------------------ procedural


@pytest.mark.parametrize("family", SCENE_FAMILIES)
def test_procedural_shapes_and_dtypes(family):
    sample = make_scene(0, 96, 128, family)
    assert sample.left.shape == sample.right.shape == (96, 128, 3)
    assert sample.left.dtype == sample.right.dtype == np.uint8
    assert sample.disparity.dtype == sample.depth.dtype == np.float32
    assert sample.disparity.shape == sample.depth.shape == (96, 128)
    assert sample.valid.dtype == sample.nonoccluded.dtype == bool
    assert sample.calib.doffs_px == 0.0
    assert sample.left.std() > 15 and sample.right.std() > 15  # textured, not blank
    if family == "classic":
        assert sample.valid.all()  # the renderer knows the truth everywhere
    # Invalid ground truth (grounded: the sky, and ground beyond FAR_VALID_M) is 0, as everywhere else.
    assert not sample.disparity[~sample.valid].any() and not sample.depth[~sample.valid].any()
    assert not (sample.nonoccluded & ~sample.valid).any()


@pytest.mark.parametrize("family", SCENE_FAMILIES)
def test_procedural_is_deterministic_per_seed(family):
    a = make_scenes(3, seed=7, height=64, width=96, family=family)
    b = make_scenes(3, seed=7, height=64, width=96, family=family)
    for x, y in zip(a, b, strict=True):
        for name in ("left", "right", "disparity", "valid", "nonoccluded", "depth"):
            assert np.array_equal(getattr(x, name), getattr(y, name)), name
        assert x.calib == y.calib and x.name == y.name
    single = make_scene(scene_seed(7, 2), 64, 96, family)
    assert np.array_equal(single.left, a[2].left) and np.array_equal(single.disparity, a[2].disparity)
    other = make_scenes(3, seed=8, height=64, width=96, family=family)
    assert len({s.name for s in a + other}) == 6
    for x, y in zip(a, other, strict=True):
        assert not np.array_equal(x.disparity, y.disparity)
    assert not np.array_equal(a[0].left, a[1].left)


def test_procedural_depth_is_focal_baseline_over_disparity(scenes):
    for sample in scenes:
        calib, valid = sample.calib, sample.valid
        focal_baseline = calib.focal_px * calib.baseline_m
        np.testing.assert_allclose(sample.depth[valid] * sample.disparity[valid], focal_baseline, rtol=1e-5)
        np.testing.assert_allclose(calib.depth_from_disparity(sample.disparity, valid), sample.depth, rtol=1e-5)


def test_procedural_ranges_are_realistic(scenes):
    for sample in scenes:
        width, valid = sample.shape[1], sample.valid
        far = 20.5 if "classic" in sample.name else FAR_VALID_M
        depth, disparity = sample.depth[valid], sample.disparity[valid]
        assert valid.mean() > 0.4
        assert 1.0 <= depth.min() and depth.max() <= far
        assert 0 < disparity.min() and disparity.max() <= width / 6 + 1e-3
        assert depth.max() / depth.min() > 2  # real depth structure, not one plane


def test_procedural_ground_truth_explains_the_pair(scenes):
    """Non-occluded left pixels match the right image at x − d up to sensor noise; nothing else does."""
    for sample in scenes:
        visible = sample.nonoccluded
        exact = photometric_error(sample, sample.disparity, visible)
        assert exact < 4.0, sample.name  # sensor noise (σ ≤ 3 grey levels) and exposure differences only
        assert exact < 0.5 * photometric_error(sample, np.zeros_like(sample.disparity), visible)
        assert exact < 0.85 * photometric_error(sample, sample.disparity + 1.0, visible)
        assert exact < 0.5 * photometric_error(sample, sample.disparity, ~visible)


def test_procedural_occlusion_fraction_and_frame_edge(scenes):
    fractions = [1 - s.nonoccluded[s.valid].mean() for s in scenes]  # of the pixels with ground truth
    assert 0.02 < np.mean(fractions) < 0.25 and max(fractions) < 0.4
    for sample in scenes:
        x_right = np.arange(sample.shape[1])[None, :] - sample.disparity
        assert not sample.nonoccluded[x_right < -0.5].any()  # lands left of the right image: out of frame


def test_procedural_occlusion_agrees_with_the_right_view_depth():
    """A non-occluded point is what the right camera sees at (y, x − d); an occluded one is hidden there."""
    scene = build_scene(11, 120, 160)
    sample = make_scene(11, 120, 160, "classic")
    right_depth, _ = cast(scene, scene.camera.baseline_m)
    x_right = np.rint(np.arange(160)[None, :] - sample.disparity).astype(int)
    inside = (x_right >= 0) & (x_right < 160)
    rows = np.broadcast_to(np.arange(120)[:, None], (120, 160))
    seen = right_depth[rows[inside], x_right[inside]]
    same = np.abs(seen - sample.depth[inside]) < 0.02 * sample.depth[inside]
    visible = sample.nonoccluded[inside]
    # Rounding to the nearest right pixel only disagrees next to depth edges.
    assert same[visible].mean() > 0.97
    assert same[~visible].mean() < 0.15


def test_resized_keeps_ground_truth_consistent(scenes):
    sample = scenes[0]
    small = sample.resized(60, 80)
    assert small.left.shape == (60, 80, 3) and small.disparity.shape == (60, 80)
    assert small.calib.focal_px == pytest.approx(sample.calib.focal_px / 2)
    assert small.disparity.max() == pytest.approx(sample.disparity.max() / 2, rel=0.05)
    np.testing.assert_allclose(small.calib.depth_from_disparity(small.disparity), small.depth, rtol=1e-5)
    visible = small.nonoccluded
    assert photometric_error(small, small.disparity, visible) < 0.5 * photometric_error(
        small, np.zeros_like(small.disparity), visible)
    assert photometric_error(small, small.disparity, visible) < 4.0
    wide = sample.resized(120, 200)  # aspect change: disparity follows the width ratio
    assert wide.disparity.max() == pytest.approx(sample.disparity.max() * 200 / 160, rel=0.02)
    same = sample.resized(*sample.shape)
    assert np.array_equal(same.left, sample.left) and same.left is not sample.left


# ------------------------------------------------------------------------------------------ registry


def test_dataset_registry():
    assert list_datasets() == ["diode", "eth3d", "images", "kitti-depth", "kitti-stereo", "middlebury", "motorcycle",
                               "nyu", "procedural", "tum"]
    scenes = get_dataset("procedural", n=2, seed=1, height=48, width=64)
    assert len(scenes) == 2 and scenes[0].shape == (48, 64)
    moto = get_dataset("motorcycle", max_width=200)
    assert len(moto) == 1 and moto[0].shape[1] == 200
    json.dumps(list_datasets())


def test_unknown_dataset_raises_one_line():
    with pytest.raises(ValueError) as info:
        get_dataset("kitti")
    message = str(info.value)
    assert "\n" not in message and "motorcycle" in message and "procedural" in message
    assert isinstance(info.value, DatasetError)
    with pytest.raises(ValueError, match="procedural"):
        get_dataset("procedural", count=3)


def test_image_folder_reads_lazily_and_splits_off_the_last_files(tmp_path):
    from edgedepth.data import ImageFolder
    from edgedepth.errors import EdgeDepthError
    from tests.helpers import write_photos

    write_photos(tmp_path, count=4)
    big = tmp_path / "big.jpg"
    cv2.imwrite(str(big), np.full((300, 600, 3), 128, np.uint8))
    folder = get_dataset("images", folder=str(tmp_path), max_side=200)
    assert isinstance(folder, ImageFolder)
    assert folder.files == ["big.jpg", "img0.png", "img1.png", "sub/img2.png", "sub/img3.png"]
    first = folder[0]
    assert first.right is None and first.left.dtype == np.uint8 and first.left.shape == (100, 200, 3)
    assert folder[1].left.shape == (120, 160, 3)  # smaller than max_side: untouched
    train, held_out = folder.split()
    assert len(train) == 4 and held_out.files == ["sub/img3.png"]
    assert folder.split(2)[1].files == ["sub/img2.png", "sub/img3.png"]
    with pytest.raises(EdgeDepthError, match="cannot hold out 5 of 5"):
        folder.split(5)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(EdgeDepthError, match="cannot read image .*broken.png"):
        ImageFolder(tmp_path, ["broken.png"])[0]


def test_training_and_predict_folders_take_the_same_photos(tmp_path):
    """One rule for a folder of photos (`runtime.images.list_images`): every photo suffix in any case, subfolders
    at any depth, names starting with "." skipped; training reads each of them."""
    from PIL import Image

    from edgedepth.data import ImageFolder
    from runtime.images import expand_inputs, list_images

    for name in ("a.jpg", "b.PNG", "e.bmp", "sub/c.webp", "sub/deeper/d.tif", ".hidden.png", ".cache/f.png"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (48, 40), (200, 10, 10)).save(path)
    (tmp_path / "notes.txt").write_text("not a photo")
    (tmp_path / "folder.png").mkdir()
    expected = ["a.jpg", "b.PNG", "e.bmp", "sub/c.webp", "sub/deeper/d.tif"]
    assert list_images(tmp_path) == expected
    assert ImageFolder(tmp_path).files == expected
    assert expand_inputs([tmp_path]) == [tmp_path / name for name in expected]
    assert all(sample.left.shape == (40, 48, 3) for sample in ImageFolder(tmp_path))
