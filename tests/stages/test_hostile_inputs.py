"""Hostile inputs to `edgedepth export`, generated from tables: damaged student checkpoints, and an output where
nothing can be written. Each is refused in one line (exit 2) before anything is exported, leaving every file as it
was and no temporary file behind."""

from __future__ import annotations

import pytest

from edgedepth.cli import main as edgedepth_main
from tests.hostile import PROC, assert_refused, truncated, zero_length


def _safetensors_header_flip(data: bytes) -> bytes:
    """One bit of the JSON header flipped (a flip in the tensor bytes is undetectable: safetensors has no sum)."""
    flipped = bytearray(data)
    flipped[8] ^= 0x01  # the header's opening brace
    return bytes(flipped)


CHECKPOINT_DAMAGES = {"truncated": truncated, "header bit-flipped": _safetensors_header_flip,
                      "zero-length": zero_length, "not safetensors": lambda data: b"just some text\n" * 8}


@pytest.mark.parametrize("damage", CHECKPOINT_DAMAGES)
def test_a_damaged_checkpoint_is_refused_before_export(damage, student_ckpt, tmp_path, capsys):
    checkpoint = tmp_path / "student.safetensors"
    checkpoint.write_bytes(CHECKPOINT_DAMAGES[damage](student_ckpt.read_bytes()))
    argv = ["export", "--student", checkpoint, "--out", tmp_path / "bundles", "--format", "onnx"]
    assert_refused(edgedepth_main, argv, capsys, tmp_path, 2, "checkpoint")


# ---------------------------------------------------------------------------------------------- unwritable outputs

UNWRITABLE = {
    "export into /proc": (edgedepth_main, lambda s: ["export", "--student", s, "--out", f"{PROC}/bundles"],
                          "cannot write"),
}


@pytest.mark.parametrize("case", UNWRITABLE)
def test_an_output_where_nothing_can_be_written_is_refused_first(case, student_ckpt, tmp_path, capsys):
    main, argv, needle = UNWRITABLE[case]
    assert_refused(main, argv(student_ckpt), capsys, tmp_path, 2, needle)
