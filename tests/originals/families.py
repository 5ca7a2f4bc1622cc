"""Small random-init networks of every exportable family, in their official layouts, and the export of each to
every format: what tests/originals check and docs/originals.md reports."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from edgedepth.originals import Original, original_from_spec
from edgedepth.originals.random_weights import vary_weights
from edgedepth.stages.export import ExportSource, export_many
from tests.helpers import official_midas_checkpoint, official_monodepth2_folder, tiny_models

FORMATS = ("onnx", "tflite", "openvino", "coreml")
TABLE = Path(__file__).resolve().parents[2] / "docs" / "originals.md"
FAMILIES = {  # family → the docs table's row name
    "depth-anything": "Depth Anything V1/V2 (hf:)",
    "dpt": "DPT / MiDaS v3.x, ViT (hf:)",
    "zoedepth": "ZoeDepth (hf:)",
    "midas-v2.1-small": "MiDaS v2.1 small (midas_v21_small:)",
    "monodepth2": "Monodepth2 (monodepth2:)",
    "raft-stereo": "RAFT-Stereo realtime (raft_stereo:)",
    "aanet": "AANet (aanet:)",
    "onnx": "ONNX file (onnx:)",
}


def hf_folder(root: Path, name: str) -> Path:
    """A tiny transformers model of `name` (see tests.helpers.tiny_models), its weights varied so that its output
    depends on its input, saved as a Hugging Face folder."""
    folder = root / name
    if not (folder / "config.json").is_file():
        vary_weights(tiny_models()[name]).save_pretrained(folder)
    return folder


def build(family: str, root: Path) -> Original:
    """The family's small random-init original at a small fixed size."""
    if family == "depth-anything":
        return original_from_spec(f"hf:{hf_folder(root, 'da_v2')}", {}, (56, 70))
    if family == "dpt":
        return original_from_spec(f"hf:{hf_folder(root, 'dpt')}", {}, (64, 64))
    if family == "zoedepth":
        return original_from_spec(f"hf:{hf_folder(root, 'zoedepth')}", {}, (64, 96))
    if family == "midas-v2.1-small":
        path, _ = official_midas_checkpoint(root / "midas" / "midas_v21_small_256.pt")
        return original_from_spec(f"midas_v21_small:{path}", {}, (64, 96))
    if family == "monodepth2":
        return original_from_spec(f"monodepth2:{official_monodepth2_folder(root / 'monodepth2')}", {}, None)
    if family == "raft-stereo":
        return original_from_spec("raft_stereo", {"random_init": True, "iters": 3}, (64, 96))
    if family == "aanet":
        return small_aanet()
    raise ValueError(family)


def small_aanet() -> Original:
    """AANet's official architecture with fewer fusion and deformable blocks and a short disparity range (the
    full one takes minutes per conversion on 2 cores); every op kind the full network has is still there."""
    from dataclasses import replace

    from edgedepth.teachers import create_teacher
    from edgedepth.teachers.aanet.model import AANET, AANet

    teacher = create_teacher("aanet", random_init=True)
    torch.manual_seed(0)
    teacher.model = AANet(replace(AANET, max_disp=48, num_fusions=2, num_deform_blocks=1)).eval()
    from edgedepth.originals.networks import aanet

    return aanet(teacher, "aanet", (48, 96))


def export_rows(original: Original, out: Path, formats: tuple[str, ...] = FORMATS) -> dict[str, dict]:
    """format → {"status": ok|failed|skipped, "parity": …, "reason": …} for the fp32 export of `original`."""
    bundles, failures = export_many(ExportSource.of_original(original, 2), out, {f: ["fp32"] for f in formats},
                                    report=lambda line: None)
    rows = {b.format: {"status": "ok", "parity": b.manifest["parity"], "bundle": b} for b in bundles}
    rows.update({f.format: {"status": f.status, "reason": f.reason} for f in failures})
    return rows


def documented(family: str) -> dict[str, str]:
    """format → the status ("ok" / "failed") docs/originals.md gives the family."""
    header, row = None, None
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "family":
            header = cells
        elif header and cells and cells[0] == FAMILIES[family]:
            row = cells
    assert header and row, f"docs/originals.md has no row for {FAMILIES[family]}"
    return {fmt: re.match(r"\w+", cell).group(0) for fmt, cell in zip(header[1:], row[1:], strict=True)}
