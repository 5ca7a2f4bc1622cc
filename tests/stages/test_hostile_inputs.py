"""Hostile inputs to `edgedepth export`, generated from tables: damaged student checkpoints, and an output where
nothing can be written. Each is refused in one line (exit 2) before anything is exported, leaving every file as it
was and no temporary file behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgedepth.cli import main as edgedepth_main
from tests.hostile import PROC, assert_refused, leftovers, run, truncated, zero_length


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


# ---------------------------------------------------------------------------------------------- other doors
# A value the command line refuses is refused from a recipe and from a checkpoint's metadata too: one line, exit 2,
# before any work (each case below fails in well under a second; the work it guards takes minutes).

_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8)) + \
    "description: *i\n"

# name → (recipe text, what the one line says)
RECIPES = {
    "steps -5": ("train: {mono: {steps: -5}}\n", "train.mono.steps"),
    "steps '4'": ("train: {mono: {steps: '4'}}\n", "train.mono.steps"),
    "steps 1e29": ("train: {mono: {steps: 1.0e+29}}\n", "train.mono.steps"),
    "lr .nan": ("train: {mono: {lr: .nan}}\n", "train.mono.lr"),
    "batch_size 0": ("train: {mono: {batch_size: 0}}\n", "train.mono.batch_size"),
    "scenes 0": ("train: {mono: {scenes: 0}}\n", "train.mono.scenes"),
    "input_size 100000x100000": ("train: {mono: {input_size: [100000, 100000]}}\n", "train.mono.input_size"),
    "threads 100000": ("train: {mono: {threads: 100000}}\n", "train.mono.threads"),
    "model width 200000": ("train: {mono: {model_kwargs: {features: 200000}}}\n", "features"),
    "alias bomb in the description": (_BOMB, "holds over 10,000 values"),
}


@pytest.mark.parametrize("command", ["distill", "demo"])
@pytest.mark.parametrize("case", RECIPES)
def test_a_recipe_value_the_command_line_refuses_is_refused(case, command, tmp_path, capsys):
    text, needle = RECIPES[case]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text)
    argv = ([command, "--out", tmp_path / "s.safetensors"] if command == "distill" else
            [command, "--out", tmp_path / "run"]) + ["--recipe", recipe]
    assert_refused(edgedepth_main, argv, capsys, tmp_path, 2, needle)


def test_a_recipe_that_is_not_a_regular_file_is_refused(tmp_path, capsys):
    argv = ["distill", "--out", tmp_path / "s.safetensors", "--recipe", "/dev/zero"]
    assert_refused(edgedepth_main, argv, capsys, tmp_path, 2, "not a regular file")


# name → (flags, what the one line says)
FLAGS = {
    "--lr nan": (["distill", "--lr", "nan"], "--lr"), "--lr -1": (["distill", "--lr", "-1"], "--lr"),
    "--size 100000x100000": (["distill", "--size", "100000x100000"], "--size"),
    "--steps 1e29": (["distill", "--steps", "1e29"], "--steps"),
    "--holdout 0": (["distill", "--holdout", "0"], "--holdout"),
    "--threads 100000": (["distill", "--threads", "100000"], "--threads"),
    "--min-psnr nan": (["verify", "--min-psnr", "nan", "--student", "s", "--bundles", "b"], "--min-psnr"),
    "--max-delta1-drop nan": (["verify", "--max-delta1-drop", "nan", "--student", "s", "--bundles", "b"],
                              "--max-delta1-drop"),
}


@pytest.mark.parametrize("case", FLAGS)
def test_a_flag_out_of_range_is_one_usage_line(case, tmp_path, capsys):
    argv, needle = FLAGS[case]
    assert_refused(edgedepth_main, [*argv, "--out", tmp_path / "out"], capsys, tmp_path, 2, needle)


def _with_metadata(source: Path, target: Path, edit) -> Path:
    """A copy of the student checkpoint whose metadata `edit` changed (the weights as they were)."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(source), framework="pt") as handle:
        metadata = dict(handle.metadata())
        state = {key: handle.get_tensor(key) for key in handle.keys()}
    info = json.loads(metadata["edgedepth"])
    metadata["edgedepth"] = edit(info) if callable(edit) else edit
    if not isinstance(metadata["edgedepth"], str):
        metadata["edgedepth"] = json.dumps(metadata["edgedepth"])
    save_file(state, str(target), metadata=metadata)
    return target


def _set(**fields):
    return lambda info: {**info, **fields}


def _config(**fields):
    return lambda info: {**info, "config": {**info["config"], **fields}}


# name → (metadata edit, what the one line says)
METADATA = {
    "features 200000": (_config(features=200000), "config.features"),
    "input_size 7x7": (_set(input_size=[7, 7]), "input_size"),
    "input_size 0x0": (_set(input_size=[0, 0]), "input_size"),
    "input_size NaN": (_set(input_size=[float("nan"), 192]), "input_size"),
    "std 0": (_set(std=[0.0, 0.2, 0.2]), "std[0]"),
    "std of two values": (_set(std=[0.2, 0.2]), "std"),
    "mean NaN": (_set(mean=[float("nan"), 0.4, 0.4]), "mean[0]"),
    "kind vibes": (_set(output_kind="vibes"), "output_kind"),
    "task stereo on a mono network": (_set(task="stereo", output_kind="disparity"), "not a stereo student"),
    "JSON 100,000 deep": ("[" * 100_000 + "]" * 100_000, "nests over"),
}


@pytest.mark.parametrize("case", METADATA)
def test_checkpoint_metadata_is_checked_before_export(case, student_ckpt, tmp_path, capsys):
    edit, needle = METADATA[case]
    checkpoint = _with_metadata(student_ckpt, tmp_path / "student.safetensors", edit)
    argv = ["export", "--student", checkpoint, "--out", tmp_path / "bundles", "--format", "onnx"]
    assert_refused(edgedepth_main, argv, capsys, tmp_path, 2, needle)


# ---------------------------------------------------------------------------------------------- signals


@pytest.mark.slow  # converts the student to ONNX first (several seconds)
def test_sigterm_during_export_is_exit_143_and_leaves_no_partial_folder(student_ckpt, tmp_path, capsys,
                                                                         monkeypatch):
    """SIGTERM arrives as the manifest is sealed (the model written, parity not yet checked): the .partial folder
    is removed, as on Ctrl-C, and the command exits 143."""
    import os
    import signal

    import export.base

    real = export.base.write_manifest

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(export.base, "write_manifest", terminated)
    out = tmp_path / "bundles"
    code, err = run(edgedepth_main, ["export", "--student", student_ckpt, "--out", out, "--format", "onnx"], capsys)
    assert code == 143 and err.endswith("edgedepth: terminated\n"), (code, err)
    assert leftovers(tmp_path) == [] and (not out.exists() or list(out.iterdir()) == [])


def test_a_stale_partial_folder_is_removed_and_a_live_one_kept(tmp_path):
    """What a SIGKILLed export left beside a bundle goes on the next write there; one a live writer holds stays."""
    from runtime.atomic import _lock, _unlock, atomic_directory

    stale, live = tmp_path / ".onnx-fp32.partial-0123abcd", tmp_path / ".onnx-fp32.partial-89abcdef"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"half")
    held = _lock(live, blocking=True)
    try:
        with atomic_directory(tmp_path / "onnx-fp32") as tmp:
            (tmp / "model.onnx").write_bytes(b"whole")
        assert not stale.exists() and live.exists()
    finally:
        _unlock(held)
    assert (tmp_path / "onnx-fp32" / "model.onnx").read_bytes() == b"whole"


def test_find_bundles_never_measures_a_partial_folder(tmp_path):
    """A sealed copy under a .partial name beside the real bundle: only the real one is found."""
    import shutil

    from edgedepth.stages.export import find_bundles
    from tests.helpers import make_onnx_bundle

    make_onnx_bundle(tmp_path / "onnx-fp32")
    shutil.copytree(tmp_path / "onnx-fp32", tmp_path / ".onnx-fp32.partial-0123abcd")
    assert [b.path.name for b in find_bundles([tmp_path])] == ["onnx-fp32"]


def test_sigterm_during_training_saves_the_state_like_ctrl_c():
    """The first SIGTERM only raises the flag the loop reads between steps, recording which signal it was."""
    import os
    import signal

    from edgedepth.distill.interrupt import stop_on_sigint

    with stop_on_sigint() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop and stop.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
