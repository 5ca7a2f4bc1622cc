"""Depth hints of `self:stereo`: SGBM's disparity on the training pairs (both the left view and the mirrored right
view the flip augmentation trains on), the hint term against a pixel loop, and its switch on the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgedepth.checkpoint import load_student
from edgedepth.cli import main
from edgedepth.data.procedural import make_scene
from edgedepth.selfsup.hints import Hint, hinted_term, stereo_hints
from edgedepth.selfsup.objective import multiscale_loss
from edgedepth.selfsup.warp import warp_stereo

TINY = ["--size", "32x64", "--steps", "2", "--scenes", "2", "--batch-size", "2", "--mixed-precision", "off",
        "--threads", "1"]


def _pair(sample) -> np.ndarray:
    """1×2×3×H×W in 0..1 of a sample's views."""
    return np.stack([sample.left, sample.right]).transpose(0, 3, 1, 2)[None].astype(np.float32) / 255.0


def test_hints_are_the_true_disparity_where_sgbm_vouches_for_them() -> None:
    sample = make_scene(3, 96, 144)
    hints = stereo_hints(_pair(sample), progress=False)[0]
    left = hints[0]
    valid = left > 0
    assert valid.mean() > 0.5
    truth = sample.disparity
    error = np.abs(left - truth)[valid & sample.valid]
    assert np.median(error) < 0.5 and (error > 3).mean() < 0.05
    # The mirrored right view's disparity: the true right-view disparity, mirrored. A right pixel x' = x − d(x)
    # of every visible left pixel carries d(x); mirrored, it sits at column (W − 1 − x').
    right = hints[1][:, ::-1]
    rows, cols = np.nonzero(valid & sample.valid)
    target = np.round(cols - truth[rows, cols]).astype(int)
    inside = (target >= 0) & (right[rows, target.clip(0)] > 0)
    agree = np.abs(right[rows[inside], target[inside]] - truth[rows[inside], cols[inside]]) < 1.0
    assert inside.mean() > 0.5 and agree.mean() > 0.8


def test_hinted_term_matches_a_pixel_loop() -> None:
    generator = torch.Generator().manual_seed(0)
    full = torch.rand(2, 1, 4, 5, generator=generator)
    per_pixel = torch.rand(2, 1, 4, 5, generator=generator)
    hint_error = torch.rand(2, 1, 4, 5, generator=generator)
    value = torch.rand(2, 1, 4, 5, generator=generator)
    valid = torch.rand(2, 1, 4, 5, generator=generator) > 0.3
    pixels = 19.2
    term, used = hinted_term(full, per_pixel, Hint(value, valid, pixels), hint_error)
    expected, count = 0.0, 0
    for index in np.ndindex(*full.shape):
        if valid[index] and hint_error[index] < per_pixel[index]:
            expected += float(np.log(1 + abs(float(full[index] - value[index])) * pixels))
            count += 1
    assert 0 < count < full.numel() and int(used.sum()) == count
    assert float(term) == pytest.approx(expected / full.numel(), rel=1e-5)


def test_a_hint_pulls_towards_itself_only_where_it_reprojects_better() -> None:
    """A smoothly textured pair shifted by 4 px: a student at 3 px is pulled towards an exact hint; a wrong hint
    (8 px), which reprojects worse than the student, adds (almost) nothing."""
    generator = torch.Generator().manual_seed(1)
    noise = torch.rand(1, 3, 16, 56, generator=generator)
    right = torch.nn.functional.avg_pool2d(noise, (1, 5), 1)[..., 2:50]  # errors grow with the offset
    left = warp_stereo(right, torch.full((1, 1, 16, 48), 4.0))
    sources = [right]

    def synthesise(disp: torch.Tensor) -> list[torch.Tensor]:
        return [warp_stereo(right, disp)]

    student = torch.full((1, 1, 16, 48), 3.0, requires_grad=True)
    valid = torch.ones(1, 1, 16, 48, dtype=torch.bool)
    good = Hint(torch.full((1, 1, 16, 48), 4.0), valid, 1.0)
    bad = Hint(torch.full((1, 1, 16, 48), 8.0), valid, 1.0)
    plain, _ = multiscale_loss([student], left, sources, synthesise, automask=False)
    hinted, log = multiscale_loss([student], left, sources, synthesise, automask=False, hint=good)
    assert log["hinted"] > 0.8 and float((hinted - plain).detach()) > 0.8 * np.log(2.0)
    (gradient,) = torch.autograd.grad(hinted - plain, student)
    assert float(gradient[..., 8:].mean()) < 0  # raising the disparity towards 4 lowers the hint term
    wrong, log_wrong = multiscale_loss([student], left, sources, synthesise, automask=False, hint=bad)
    assert log_wrong["hinted"] < 0.1  # the few pixels where 8 px happens to match better (the image's border)
    assert float((wrong - plain).detach()) == pytest.approx(log_wrong["hinted"] * np.log(1 + 5.0), rel=1e-4)


def test_hints_are_on_by_default_and_can_be_switched_off(tmp_path: Path) -> None:
    on, off = tmp_path / "on.safetensors", tmp_path / "off.safetensors"
    assert main(["distill", "--teacher", "self:stereo", "--out", str(on), *TINY]) == 0
    assert main(["distill", "--teacher", "self:stereo", "--teacher-arg", "hints=off", "--out", str(off), *TINY]) == 0
    _, info_on = load_student(on)
    _, info_off = load_student(off)
    assert info_on.training["supervision"]["depth_hints"] == "sgbm"
    assert 0 < info_on.training["log"]["depth_hints"]["valid_fraction"] <= 1
    assert info_off.training["supervision"]["depth_hints"] is None and "depth_hints" not in info_off.training["log"]


@pytest.mark.parametrize("args, message", [
    (["--teacher", "self:stereo", "--teacher-arg", "hints=raft"], "expected one of sgbm, off"),
    (["--teacher", "self:stereo", "--teacher-arg", "depth=1"], "takes one --teacher-arg, hints=sgbm|off"),
    (["--teacher", "self:video", "--teacher-arg", "hints=sgbm"], "self:video takes no --teacher-arg"),
])
def test_bad_hint_arguments_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str],
                                                   message: str) -> None:
    assert main(["distill", *args, "--out", str(tmp_path / "x.safetensors"), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "x.safetensors").exists()
