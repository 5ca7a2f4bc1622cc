"""Random-init files in official release layouts (MiDaS v2.1 small's state dict, Monodepth2's encoder.pth and
depth.pth): what tests and latency benchmarks load through the real loaders when the releases are not at hand."""

from __future__ import annotations

from pathlib import Path

import torch


def midas_v21_small_file(path: Path, seed: int = 0) -> tuple[Path, dict[str, torch.Tensor]]:
    """A seeded MiDaS v2.1 small checkpoint saved as the release is (a plain state dict), its output bias raised
    so the map is not all zero after the final ReLU; the path and the state dict."""
    from edgedepth.models import create_model

    torch.manual_seed(seed)
    state = create_model("midas_small").state_dict()
    state["scratch.output_conv.4.bias"] = torch.tensor([0.5])
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path, state


def monodepth2_folder(root: Path, depth: int = 18, use_stereo: bool = False, seed: int = 0,
                      size: tuple[int, int] = (192, 640)) -> Path:
    """`root` with encoder.pth (the encoder's weights plus the training size and stereo flag) and depth.pth, as
    Monodepth2's trainer saves them, from a seeded ResNet-`depth` model."""
    from edgedepth.teachers.monodepth2 import Monodepth2

    torch.manual_seed(seed)
    model = Monodepth2(depth)
    root.mkdir(parents=True, exist_ok=True)
    encoder = {f"encoder.{k}": v for k, v in model.encoder.state_dict().items()}
    torch.save({**encoder, "height": size[0], "width": size[1], "use_stereo": use_stereo}, root / "encoder.pth")
    torch.save(model.depth_decoder.state_dict(), root / "depth.pth")
    return root
