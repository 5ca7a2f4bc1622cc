"""Official AANet / AANet+ checkpoints: strict loading with one-line errors, and the architecture a file holds.

The released `.pth` files are dicts with the weights under `state_dict` (plus epoch / num_iter / epe numbers),
read with `torch.load(weights_only=True)`; keys carry DataParallel's `module.` prefix when saved from it, and
load either way. Every tensor of the model must come from the file with its exact shape, and every key of the
file must be used.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgedepth.checkpoint import load_weights_strict, read_state_dict

PREFIX = "module."
# A key only AANet+ (GANet features) has, and one only AANet (ResNet features + FPN) has.
_PLUS_KEY = "feature_extractor.conv_start.0.conv.weight"
_PLAIN_KEY = "fpn.lateral_convs.0.weight"


def official_state_dict(model: nn.Module, prefix: bool = True) -> dict[str, torch.Tensor]:
    """The model's state_dict under the official names, with DataParallel's `module.` prefix unless told not."""
    shown = PREFIX if prefix else ""
    return {shown + key: value for key, value in model.state_dict().items()}


def strip_prefix(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """`state` without the `module.` prefix (when every key has it), and the prefix removed."""
    if state and all(key.startswith(PREFIX) for key in state):
        return {key[len(PREFIX):]: value for key, value in state.items()}, PREFIX
    return state, ""


def architecture_of(state: dict[str, torch.Tensor]) -> str | None:
    """'aanet+' or 'aanet' from the keys a checkpoint holds (prefix stripped), None when it is neither."""
    if _PLUS_KEY in state:
        return "aanet+"
    if _PLAIN_KEY in state:
        return "aanet"
    return None


def read_official_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors of an official checkpoint (`state_dict` of the saved dict, or a plain state_dict / safetensors)
    without the `module.` prefix, and the prefix it had; unreadable files raise one line."""
    state, _ = read_state_dict(Path(path))
    return strip_prefix(state)


def load_official_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: str,
                             target: str = "this AANet configuration") -> None:
    """Load an official (or identically named) state_dict into `model` strictly; mismatches raise one line."""
    state, shown = strip_prefix(state)
    load_weights_strict(model, state, source, shown_prefix=shown, target=target)


def load_official_checkpoint(model: nn.Module, path: str | Path, target: str = "this AANet configuration") -> None:
    """Read an official checkpoint file into `model`, strictly."""
    state, _ = read_state_dict(Path(path))
    load_official_state_dict(model, state, str(path), target)
