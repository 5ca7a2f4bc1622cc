"""Official RAFT-Stereo checkpoints: their key layout and a strict loader with one-line errors.

The official files are plain state_dicts saved from `nn.DataParallel`, so every key starts with `module.`.
Some tensors are registered under two names (a residual block's `norm3` is also `downsample.1`); checkpoints
hold both, with equal values. Loading is strict: every tensor of the model must come from the checkpoint with
its exact shape, and every checkpoint key must be used. Aliased names must agree; a checkpoint that kept only
one name of an alias group (e.g. re-saved with shared tensors deduplicated) still loads, since the tensor is
fully given.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgedepth.checkpoint import load_weights_strict, read_state_dict
from edgedepth.errors import EdgeDepthError

PREFIX = "module."


def official_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state_dict under the official names (`module.` prefix), aliases included."""
    return {PREFIX + key: value for key, value in model.state_dict().items()}


def alias_groups(model: nn.Module) -> list[list[str]]:
    """Groups of state_dict keys (no prefix) that name one tensor, each sorted; groups of one are left out."""
    groups: dict[int, list[str]] = {}
    for key, value in model.state_dict(keep_vars=True).items():
        groups.setdefault(id(value), []).append(key)
    return sorted(sorted(keys) for keys in groups.values() if len(keys) > 1)


def load_official_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load an official (or identically named) state_dict into `model` strictly; mismatches raise one line."""
    prefixed = bool(state) and all(key.startswith(PREFIX) for key in state)
    shown = PREFIX if prefixed else ""
    state = {key[len(shown):]: value for key, value in state.items()}
    state = _fill_aliases(model, state, source, shown)
    load_weights_strict(model, state, source, shown_prefix=shown, target="this RAFT-Stereo configuration")


def _fill_aliases(model: nn.Module, state: dict[str, torch.Tensor], source: str,
                  shown: str) -> dict[str, torch.Tensor]:
    """`state` with every alias group complete; different values under names of one tensor raise."""
    state = dict(state)
    for group in alias_groups(model):
        present = [key for key in group if key in state]
        if not present:
            continue  # reported as missing
        first = state[present[0]]
        for key in present[1:]:
            if state[key].shape != first.shape or not torch.equal(state[key], first):
                raise EdgeDepthError(f"{source}: {shown}{present[0]} and {shown}{key} name one tensor but differ")
        for key in group:
            state.setdefault(key, first)
    return state


def load_official_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Read a .pth/.pt (tensors only, no pickled code) or .safetensors checkpoint into `model`, strictly."""
    state, _ = read_state_dict(Path(path))
    load_official_state_dict(model, state, str(path))
