"""The self-supervised objective's terms against plain numpy loops written from Monodepth2's definitions."""

from __future__ import annotations

import numpy as np
import torch

from edgedepth.selfsup.floor import floored
from edgedepth.selfsup.photometric import min_reprojection, photometric_error, ssim_dissimilarity
from edgedepth.selfsup.smoothness import edge_aware_smoothness
from edgedepth.selfsup.warp import axis_angle_matrix, pose_matrix, warp_stereo, warp_video


def _window_mean(a: np.ndarray, y: int, x: int) -> float:
    """Mean of the 3×3 window centred on (y, x) of a reflection-padded 2-D array (numpy's 'reflect')."""
    padded = np.pad(a, 1, mode="reflect")
    return float(sum(padded[y + dy, x + dx] for dy in range(3) for dx in range(3)) / 9.0)


def _ssim_loop(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(1 − SSIM)/2 clamped to [0, 1], pixel by pixel, for 2-D arrays."""
    c1, c2 = 0.01**2, 0.03**2
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            mx, my = _window_mean(x, i, j), _window_mean(y, i, j)
            sx = _window_mean(x * x, i, j) - mx * mx
            sy = _window_mean(y * y, i, j) - my * my
            sxy = _window_mean(x * y, i, j) - mx * my
            ssim = (2 * mx * my + c1) * (2 * sxy + c2) / ((mx * mx + my * my + c1) * (sx + sy + c2))
            out[i, j] = min(1.0, max(0.0, (1 - ssim) / 2))
    return out


def _images(seed: int, n: int = 2, c: int = 3, h: int = 6, w: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).random((n, c, h, w)).astype(np.float64)


def test_ssim_matches_loop_and_is_zero_for_equal_images() -> None:
    x, y = _images(0), _images(1)
    y[0] = 0.7 * x[0] + 0.3 * y[0]  # one pair correlated, one not
    got = ssim_dissimilarity(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    for n in range(2):
        for c in range(3):
            np.testing.assert_allclose(got[n, c], _ssim_loop(x[n, c], y[n, c]), atol=1e-9)
    same = ssim_dissimilarity(torch.from_numpy(x), torch.from_numpy(x)).numpy()
    assert np.abs(same).max() < 1e-6
    assert got[1].mean() > got[0].mean()  # the unrelated pair is less similar


def test_photometric_error_weights_ssim_and_l1() -> None:
    x, y = _images(2), _images(3)
    got = photometric_error(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    assert got.shape == (2, 1, 6, 7)
    for n in range(2):
        ssim = np.mean([_ssim_loop(x[n, c], y[n, c]) for c in range(3)], axis=0)
        l1 = np.abs(x[n] - y[n]).mean(0)
        np.testing.assert_allclose(got[n, 0], 0.85 * ssim + 0.15 * l1, atol=1e-9)


def test_min_reprojection_and_automask_match_a_pixel_loop() -> None:
    target = _images(4)
    warped = [_images(5), target * 0.9 + 0.1 * _images(6)]
    sources = [target * 0.9 + 0.1 * _images(7), _images(8)]
    t = torch.from_numpy
    loss, mask = min_reprojection(t(target), [t(w) for w in warped], [t(s) for s in sources], noise=0.0)
    errors_w = [photometric_error(t(w), t(target)).numpy()[:, 0] for w in warped]
    errors_s = [photometric_error(t(s), t(target)).numpy()[:, 0] for s in sources]
    for n in range(2):
        for i in range(6):
            for j in range(7):
                best_warp = min(e[n, i, j] for e in errors_w)
                best_identity = min(e[n, i, j] for e in errors_s)
                assert loss[n, 0, i, j].item() == min(best_warp, best_identity)
                assert bool(mask[n, 0, i, j]) == (best_warp < best_identity)
    assert 0 < mask.float().mean() < 1  # both cases occur in this data
    unmasked, all_kept = min_reprojection(t(target), [t(w) for w in warped], None)
    np.testing.assert_allclose(unmasked.numpy()[:, 0], np.minimum(*errors_w))
    assert bool(all_kept.all())


def test_identity_noise_breaks_ties_towards_either_side() -> None:
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    _, mask = min_reprojection(target, [target.clone()], [target.clone()])
    assert 0.2 < mask.float().mean() < 0.8  # equal errors: the noise decides, not the order of the views


def test_edge_aware_smoothness_matches_loop() -> None:
    disp, image = _images(9, c=1) + 0.5, _images(10)
    got = edge_aware_smoothness(torch.from_numpy(disp), torch.from_numpy(image)).item()
    gx, gy = [], []
    for n in range(2):
        d, im = disp[n, 0] / (disp[n, 0].mean() + 1e-7), image[n]
        for i in range(6):
            for j in range(7):
                if j + 1 < 7:
                    gx.append(abs(d[i, j] - d[i, j + 1]) * np.exp(-np.abs(im[:, i, j] - im[:, i, j + 1]).mean()))
                if i + 1 < 6:
                    gy.append(abs(d[i, j] - d[i + 1, j]) * np.exp(-np.abs(im[:, i, j] - im[:, i + 1, j]).mean()))
    assert abs(got - (np.mean(gx) + np.mean(gy))) < 1e-9
    flat = edge_aware_smoothness(torch.ones(1, 1, 6, 7) * 3.0, torch.from_numpy(image[:1]))
    assert flat.item() == 0.0
    # Scaling the disparity does not change the term (mean normalisation).
    scaled = edge_aware_smoothness(torch.from_numpy(disp * 7.0), torch.from_numpy(image)).item()
    assert abs(scaled - got) < 1e-6 * got  # up to the 1e-7 guard of the mean


def test_stereo_warp_shifts_by_disparity() -> None:
    source = torch.from_numpy(_images(11, n=1, w=10))
    disparity = torch.full((1, 1, 6, 10), 2.0, dtype=torch.float64)
    warped = warp_stereo(source, disparity)
    np.testing.assert_allclose(warped[..., 2:].numpy(), source[..., :-2].numpy(), atol=1e-12)
    half = warp_stereo(source, disparity * 0.25)  # half a pixel: the mean of two neighbours
    np.testing.assert_allclose(half[..., 1:].numpy(), 0.5 * (source[..., 1:] + source[..., :-1]).numpy(), atol=1e-12)


def test_video_warp_of_a_sideways_camera_is_the_stereo_warp() -> None:
    source = torch.from_numpy(_images(12, n=1, h=8, w=12))
    focal, baseline = 9.0, 0.5
    depth = torch.from_numpy(np.random.default_rng(13).uniform(2.0, 6.0, (1, 1, 8, 12)))
    intrinsics = torch.tensor([[[focal, 0.0, 5.5], [0.0, focal, 3.5], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    # A point X in the left camera is X − B in the right one.
    to_right = pose_matrix(torch.zeros(1, 3, dtype=torch.float64), torch.tensor([[-baseline, 0.0, 0.0]],
                                                                                  dtype=torch.float64))
    video = warp_video(source, depth, intrinsics, to_right)
    stereo = warp_stereo(source, focal * baseline / depth)
    np.testing.assert_allclose(video.numpy(), stereo.numpy(), atol=1e-9)
    still = warp_video(source, depth, intrinsics, torch.eye(4, dtype=torch.float64)[None])
    np.testing.assert_allclose(still.numpy(), source.numpy(), atol=1e-9)


def test_pose_matrix_inverse_and_rotation() -> None:
    rng = np.random.default_rng(14)
    axis_angle, translation = torch.from_numpy(rng.normal(0, 0.3, (3, 3))), torch.from_numpy(rng.normal(0, 1, (3, 3)))
    forward, back = pose_matrix(axis_angle, translation), pose_matrix(axis_angle, translation, invert=True)
    np.testing.assert_allclose((forward @ back).numpy(), np.broadcast_to(np.eye(4), (3, 4, 4)), atol=1e-12)
    quarter = axis_angle_matrix(torch.tensor([[0.0, 0.0, np.pi / 2]], dtype=torch.float64))[0].numpy()
    np.testing.assert_allclose(quarter @ np.array([1.0, 0.0, 0.0]), [0.0, 1.0, 0.0], atol=1e-12)


def test_sampling_far_outside_the_image_gives_the_border_and_no_crash() -> None:
    from edgedepth.selfsup.warp import sample_at

    image = torch.from_numpy(_images(14, n=1, h=4, w=5))
    x = torch.tensor([[[1e12, -1e12, float("inf"), float("nan"), 2.0]]], dtype=torch.float64).expand(1, 4, 5)
    x = x.clone().requires_grad_(True)
    y = torch.full((1, 4, 5), 1.0, dtype=torch.float64)
    out = sample_at(image, x, y)
    row = image[0, :, 1]
    np.testing.assert_allclose(out[0, :, 1, :3].detach().numpy(), row[:, [4, 0, 4]].numpy(), atol=1e-12)
    np.testing.assert_allclose(out[0, :, 1, 3].detach().numpy(), row[:, 0].numpy(), atol=1e-12)
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad[0, :, :4] == 0).all()


def test_inverse_depth_floor_is_exact_and_lets_only_raising_gradients_through_below_it() -> None:
    x = torch.tensor([-395264.0, -1.0, 0.005, 0.01, 0.5, 544768.0], requires_grad=True)
    y = floored(x, 0.01)
    # the value is the floor exactly, however far below it the input ran (x + (floor − x) rounds to 0 at −4e5)
    assert y.tolist() == torch.tensor([0.01, 0.01, 0.01, 0.01, 0.5, 544768.0]).tolist()
    assert bool(torch.isfinite(1.0 / y).all())
    grad = torch.tensor([1.0, -1.0, 2.0, 3.0, 4.0, 5.0])
    y.backward(grad)
    # below the floor a pull down (gradient > 0) stops and a pull up passes: such pixels come back, never drift;
    # at and above the floor the gradient is untouched
    assert x.grad.tolist() == [0.0, -1.0, 0.0, 3.0, 4.0, 5.0]
