"""Random weights under which a network's output varies with its input, for tests and latency benchmarks of
official architectures without their checkpoints.

A default-initialised Depth Anything or ZoeDepth is nearly constant (zero biases and near-zero head weights
give outputs near 1e-7, or softplus(0) everywhere), so fidelity relative to the output's range means nothing on
it. Here every matrix is drawn with variance 1 / fan-in (activations keep their scale through the depth), biases
and norm shifts N(0, 0.1²), norm scales 1 + N(0, 0.1²), and every other tensor (position embeddings, tokens,
relative-position tables) N(0, 0.02²).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def vary_weights(model: nn.Module, seed: int = 0) -> nn.Module:
    """Re-draw every parameter of `model` in place as described above (seeded; global RNG untouched)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            for name, param in module.named_parameters(recurse=False):
                param.copy_(_draw(module, name, param, generator))
    return model


def _draw(module: nn.Module, name: str, param: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One parameter's new values."""
    normal = torch.randn(param.shape, generator=generator, dtype=torch.float32)
    norms = (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm2d)
    is_norm = isinstance(module, norms) or "norm" in type(module).__name__.lower()
    if name == "weight" and is_norm:
        return 1.0 + 0.1 * normal
    if name == "bias":
        return 0.1 * normal
    if name == "weight" and param.dim() > 1:
        fan_in = math.prod(param.shape[1:])
        return normal / math.sqrt(fan_in)
    return 0.02 * normal
