"""Learning curves: held-out accuracy measured during training, recorded in the checkpoint and drawn beside it."""

from __future__ import annotations

import numpy as np
import pytest

from edgedepth.checkpoint import load_student
from edgedepth.distill.config import DistillConfig
from edgedepth.distill.learning_curve import draw_learning_curve
from edgedepth.distill.monitor import curve_path
from edgedepth.distill.train import train

pytestmark = pytest.mark.slow


def test_distill_records_and_draws_a_learning_curve(tmp_path):
    config = DistillConfig(model_kwargs={"features": 16}, input_size=(64, 96), scenes=6, steps=6, batch_size=2,
                           warmup_steps=2, eval_every=3, threads=1)
    checkpoint = train(config, tmp_path / "student.safetensors", progress=False)
    _, info = load_student(checkpoint)
    curve = info.training["log"]["curve"]
    assert [row["step"] for row in curve["rows"]] == [3, 6]
    for row in curve["rows"]:
        assert 0.0 <= row["heldout_delta1"] <= 1.0 and 0.0 <= row["motorcycle_delta1"] <= 1.0
        assert -1.0 <= row["motorcycle_position_prior"] <= 1.0
        assert row["minutes"] > 0
    assert curve["rows"][1]["minutes"] > curve["rows"][0]["minutes"]
    assert 0.0 < curve["baselines"]["gradient motorcycle_delta1"] < 1.0
    picture = curve_path(checkpoint)
    assert picture.name == "student.curve.png" and picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_learning_curve_refuses_mismatched_series(tmp_path):
    with pytest.raises(ValueError, match="as many values"):
        draw_learning_curve(tmp_path / "c.png", [1.0, 2.0], {"a": [0.5]})
    path = draw_learning_curve(tmp_path / "c.png", [1.0, 2.0], {"a": [0.5, 0.6]}, {"gradient": 0.4})
    assert path.stat().st_size > 1000 and np.isfinite(path.stat().st_size)
