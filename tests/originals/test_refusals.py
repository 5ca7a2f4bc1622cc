"""Specs that are not networks, files that are not the family's and sizes a family cannot take: one line,
exit 2, nothing written, before any conversion."""

from __future__ import annotations

import pytest
import torch

from edgedepth.cli import main
from edgedepth.originals import OriginalError, SizeRule, exportable_specs
from tests.helpers import write_bad_checkpoint


def refused(capsys, tmp_path, *args: str) -> str:
    out = tmp_path / "bundles"
    try:
        code = main(["export", "--out", str(out), *args])
    except SystemExit as exc:  # argparse's own refusal: usage, then one error line
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2, err
    assert "Traceback" not in err and "error" in err, err
    assert not out.exists(), "a refused export wrote its output folder"
    return err


@pytest.mark.parametrize("spec, needle", [("sgbm", "not a network"), ("self:stereo", "training objective"),
                                          ("nonsense:x", "unknown teacher")])
def test_a_spec_that_is_not_a_network_is_refused(capsys, tmp_path, spec, needle):
    assert needle in refused(capsys, tmp_path, "--model", spec)


def test_a_file_that_is_not_the_familys_is_refused(capsys, tmp_path):
    bad = write_bad_checkpoint(tmp_path / "weights.pt", {"not.a.known.key": torch.zeros(3)})
    for spec in ("midas_v21_small", "raft_stereo", "aanet"):
        assert "weights.pt" in refused(capsys, tmp_path, "--model", f"{spec}:{bad}")
    (tmp_path / "folder").mkdir()
    assert "encoder.pth" in refused(capsys, tmp_path, "--model", f"monodepth2:{tmp_path / 'folder'}")
    assert "config.json" in refused(capsys, tmp_path, "--model", f"hf:{tmp_path / 'folder'}")


@pytest.mark.parametrize("size, needle", [("100x100", "multiples of 32"), ("0x64", "1 to"), ("64", "HEIGHTxWIDTH")])
def test_a_size_the_family_cannot_take_is_refused(capsys, tmp_path, size, needle):
    err = refused(capsys, tmp_path, "--model", "raft_stereo", "--teacher-arg", "random_init=true", "--size", size)
    assert needle in err


def test_student_and_model_flags_do_not_mix(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--out", str(tmp_path / "b"), "--model", "sgbm", "--student", "x.safetensors"])
    assert exit_info.value.code == 2 and not (tmp_path / "b").exists()
    assert "not allowed with" in capsys.readouterr().err


def test_size_rules():
    rule = SizeRule("Depth Anything", 14, (518, 518), "DINOv2 patches are 14 px")
    assert rule.resolve(None) == (518, 518) and rule.resolve((266, 350)) == (266, 350)
    for bad in [(266, 351), (7, 14), (0, 14)]:
        with pytest.raises(OriginalError, match="multiples of 14"):
            rule.resolve(bad)
    assert exportable_specs() == ["aanet", "hf", "midas_v21_small", "monodepth2", "onnx", "raft_stereo"]
