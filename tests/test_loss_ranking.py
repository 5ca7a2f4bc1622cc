"""Does the distillation loss rank maps the way a depth metric would? Model-free: exact disparity as the target.

On held-out procedural scenes, with every pixel valid, `ssi_loss` should score the target itself below a noisy
copy of it (×(1 + 0.2·N(0, 1)), clipped positive), the copy below a top-to-bottom gradient (a map that ignores
the image), and the gradient below a constant (no structure at all).
"""

import numpy as np
import pytest
import torch

from edgedepth.data import get_dataset
from edgedepth.losses import ssi_loss

SCENES = 16
SEED = 1_000_003  # the held-out seed verify uses
MAPS = ("target", "noisy", "gradient", "constant")


def _maps(disparity: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The four maps ranked against one scene's disparity, in the order the loss should rank them."""
    height, width = disparity.shape
    noisy = disparity * (1.0 + 0.2 * rng.standard_normal(disparity.shape))
    return {
        "target": disparity,
        "noisy": np.clip(noisy, 1e-3 * float(disparity.max()), None).astype(np.float32),
        "gradient": np.repeat(np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None], width, axis=1),
        "constant": np.ones_like(disparity),
    }


@pytest.fixture(scope="module")
def losses() -> dict[float, np.ndarray]:
    """{alpha: scenes × maps array of ssi_loss}, for the default alpha (0.5) and for the data term alone (0)."""
    rng = np.random.default_rng(0)
    scenes = get_dataset("procedural", n=SCENES, seed=SEED, height=96, width=128)
    table: dict[float, list[list[float]]] = {0.5: [], 0.0: []}
    for sample in scenes:
        target = sample.disparity.astype(np.float32)
        maps = _maps(target, rng)
        mask = torch.ones((1, *target.shape), dtype=torch.bool)
        for alpha, rows in table.items():
            rows.append([float(ssi_loss(torch.from_numpy(maps[name])[None], torch.from_numpy(target)[None], mask,
                                        alpha=alpha)) for name in MAPS])
    return {alpha: np.asarray(rows) for alpha, rows in table.items()}


def _ranked(values: np.ndarray) -> np.ndarray:
    """Per row: whether target < noisy < gradient < constant."""
    return np.all(np.diff(values, axis=-1) > 0, axis=-1)


def test_the_target_scores_best_on_every_scene(losses):
    for values in losses.values():
        assert np.all(values[:, 0] < values[:, 1:].min(axis=1))
        assert np.all(values[:, 0] < 1e-3)


def test_the_data_term_ranks_the_maps_on_average(losses):
    # Without gradient matching the ranking holds on average (about 0 < 0.28 < 0.63 < 0.68) and the noisy copy
    # beats the gradient on every scene; the gradient beats the constant on only 10 of the 16 scenes.
    data_only = losses[0.0]
    assert _ranked(data_only.mean(axis=0))
    assert np.all(data_only[:, 1] < data_only[:, 2])


@pytest.mark.xfail(strict=True, reason="at its default alpha = 0.5 the gradient-matching term scores a copy of the "
                   "target with 20 % pixel noise worse than a top-to-bottom gradient on every scene (mean about 2.3 "
                   "vs 1.3), and a constant better than the gradient on average (about 1.2 vs 1.3)")
def test_the_default_loss_ranks_the_maps_on_every_scene(losses):
    assert np.all(_ranked(losses[0.5])), np.round(losses[0.5], 3)


@pytest.mark.xfail(strict=True, reason="see test_the_default_loss_ranks_the_maps_on_every_scene: the mean ranking "
                   "is constant < gradient < noisy copy")
def test_the_default_loss_ranks_the_maps_on_average(losses):
    assert _ranked(losses[0.5].mean(axis=0)), np.round(losses[0.5].mean(axis=0), 3)
