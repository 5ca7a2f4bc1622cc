"""Distillation on two processes under torchrun (gloo, CPU) computes what one process accumulating the gradients
of the same two micro-batches computes: the global batch and the schedule do not depend on the process count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from edgedepth.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--steps", "3", "--scenes", "4", "--size", "32x64", "--batch-size", "4", "--threads", "1",
        "--mixed-precision", "off", "--no-cache", "--device", "cpu"]


@pytest.mark.slow  # three processes start torch: ~20 s
def test_two_ranks_give_the_weights_of_two_accumulated_micro_batches(tmp_path):
    ranks = tmp_path / "ranks.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "edgedepth", "distill", "--out", str(ranks), *TINY],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote ") == 1  # rank 0 alone writes and reports
    reference = tmp_path / "accumulated.safetensors"
    assert main(["distill", "--out", str(reference), *TINY, "--accumulate", "2"]) == 0
    got, expected = load_file(str(ranks)), load_file(str(reference))
    assert got.keys() == expected.keys()
    worst = max(float((got[k].double() - v.double()).abs().max() / v.double().abs().max().clamp_min(1e-12))
                for k, v in expected.items())
    assert worst <= 1e-5, worst


def test_a_batch_that_does_not_split_is_one_line(tmp_path, capsys):
    code = main(["distill", "--out", str(tmp_path / "s.safetensors"), *TINY, "--batch-size", "3", "--accumulate", "2"])
    assert code == 2
    assert capsys.readouterr().err.strip() == ("edgedepth: error: --batch-size 3 does not split into 1 rank(s) × 2 "
                                               "micro-batch(es): use a multiple of 2")


def test_accumulating_one_micro_batch_changes_nothing_and_two_share_the_batch():
    from edgedepth.distill.distributed import part_slice, split_batch

    assert split_batch(8, 2, 2) == 2 and [part_slice(8, i, 4) for i in (0, 3)] == [slice(0, 2), slice(6, 8)]
    assert torch.equal(torch.arange(8)[part_slice(8, 1, 2)], torch.arange(4, 8))
