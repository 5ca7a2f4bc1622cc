"""Hugging Face originals (Depth Anything V1/V2, DPT / MiDaS v3.x, ZoeDepth) as fixed-size exportable modules.

Rewrites make them convertible, each exact at the export size: attention runs as matmul–softmax–matmul
("eager") instead of fused scaled-dot-product attention, which LiteRT's converter cannot lower; DINOv2's
position embeddings, bicubically interpolated to the token grid on every call (an op Core ML cannot take), are
interpolated once at the export size and kept as a constant; so are BEiT's relative position biases, whose
index is rebuilt with in-place writes on every call.
"""

from __future__ import annotations

import copy
import types

import torch
from torch import nn

from edgedepth.originals.base import Original, SizeRule
from edgedepth.teachers.hf import HFDepthTeacher

EAGER = "attention as matmul-softmax-matmul (eager)"
FIXED_POSITIONS = "DINOv2 position embeddings interpolated once at the export size"
FIXED_RELATIVE = "BEiT relative position biases built once at the export size"
FOLDED_SCALE = "attention's 1/sqrt(head size) folded into the query projection"
NO_MASK = "attention's all-zero padding mask dropped (an image has no padding tokens)"


def size_rule(teacher: HFDepthTeacher) -> SizeRule:
    """The family's fixed-size rule: DINOv2 backbones take multiples of their patch, the others of 32."""
    p = teacher.preprocess
    if teacher.family == "depth_anything":
        return SizeRule("Depth Anything", p.multiple, (518, 518), f"DINOv2 patches are {p.multiple} px")
    if teacher.family == "zoedepth":
        return SizeRule("ZoeDepth", 32, (384, 512), "its BEiT backbone and decoder halve the input five times")
    multiple = p.multiple if p.multiple > 1 else 32
    return SizeRule("DPT", multiple, (p.height, p.width), f"the backbone's patches tile the input by {multiple}")


def _fix_dinov2_positions(model: nn.Module, height: int, width: int) -> bool:
    """Replace every DINOv2 embeddings' per-call interpolation with its result at height × width; True if any."""
    fixed = False
    for module in model.modules():
        if type(module).__name__ != "Dinov2Embeddings":
            continue
        patch_h, patch_w = module.patch_embeddings.patch_size
        tokens = (height // patch_h) * (width // patch_w) + 1
        probe = torch.zeros(1, tokens, module.position_embeddings.shape[-1])
        with torch.no_grad():
            table = module.interpolate_pos_encoding(probe, height, width).detach().clone()
        module.register_buffer("positions_at_export_size", table, persistent=False)
        module.interpolate_pos_encoding = types.MethodType(lambda self, emb, h, w: self.positions_at_export_size,
                                                           module)
        fixed = True
    return fixed


def _freeze_relative_position_biases(model: nn.Module, height: int, width: int) -> bool:
    """Replace every BEiT relative-position-bias module (its index is rebuilt with in-place writes on each call,
    which Core ML cannot convert) with its output at height × width, recorded on one run; True if any."""
    biases = [m for m in model.modules() if type(m).__name__.endswith("RelativePositionBias")]
    if not biases:
        return False
    recorded: dict[int, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda mod, args, out: recorded.setdefault(id(mod), out.detach().clone()))
             for m in biases]
    try:
        with torch.no_grad():
            model(pixel_values=torch.zeros(1, 3, height, width))
    finally:
        for hook in hooks:
            hook.remove()
    for module in biases:
        if id(module) not in recorded:
            continue
        module.register_buffer("bias_at_export_size", recorded[id(module)], persistent=False)
        module.forward = types.MethodType(lambda self, *args, **kwargs: self.bias_at_export_size, module)
    return bool(recorded)


def _self_attentions(model: nn.Module) -> list[nn.Module]:
    """The self-attention modules: a query projection (`q_proj` or `query`) and a float `scaling`."""
    found = []
    for module in model.modules():
        query = getattr(module, "q_proj", None) or getattr(module, "query", None)
        if isinstance(query, nn.Linear) and isinstance(getattr(module, "scaling", None), float):
            found.append(module)
    return found


def _fold_attention_scale(model: nn.Module) -> bool:
    """Scale every self-attention's query projection by its `scaling` and set the scaling to 1: the same scores,
    one multiplication fewer on each N×N score matrix (an int8 graph cannot fuse it into its matmul, and at 518 px
    it costs as much as a tenth of Depth Anything's int8 run); True if any was folded."""
    folded = False
    for module in _self_attentions(model):
        query = getattr(module, "q_proj", None) or getattr(module, "query", None)
        if module.scaling == 1.0:
            continue
        scaling = module.scaling
        with torch.no_grad():
            query.weight.mul_(scaling)
            if query.bias is not None:
                query.bias.mul_(scaling)
        module.scaling = 1.0
        folded = True
    return folded


def _no_padding_mask(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Forward pre-hook: call the attention without a mask (passed by keyword or as the second argument)."""
    if len(args) > 1:
        args = (args[0], None, *args[2:])
    return args, {**kwargs, "attention_mask": None} if "attention_mask" in kwargs else kwargs


def _drop_padding_masks(model: nn.Module) -> bool:
    """Run every self-attention without its mask. Under torch.export transformers builds the bidirectional mask
    of a maskless batch as an additive N×N tensor of zeros, and adding it costs each layer a pass over its scores
    (at 518 px, 11 M values per layer); an image has no padding tokens, so dropping it is exact. True if any."""
    attentions = _self_attentions(model)
    for module in attentions:
        module.register_forward_pre_hook(_no_padding_mask, with_kwargs=True)
    return bool(attentions)


class HFDepthModule(nn.Module):
    """The transformers model on normalised pixel values, returning its 1×h×w `predicted_depth`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        depth = self.model(pixel_values=pixel_values).predicted_depth
        return depth.reshape(depth.shape[0], *depth.shape[-2:])


def build(teacher: HFDepthTeacher, spec: str, size: tuple[int, int] | None) -> Original:
    """The teacher's network at a fixed size, rewritten for the converters."""
    height, width = size_rule(teacher).resolve(size)
    model = copy.deepcopy(teacher.model).eval()
    rewrites = []
    if hasattr(model, "set_attn_implementation"):
        try:
            model.set_attn_implementation("eager")
            rewrites.append(EAGER)
        except (ValueError, AttributeError):  # a backbone with one implementation only: nothing to rewrite
            pass
    if _fix_dinov2_positions(model, height, width):
        rewrites.append(FIXED_POSITIONS)
    if _freeze_relative_position_biases(model, height, width):
        rewrites.append(FIXED_RELATIVE)
    if EAGER in rewrites and _fold_attention_scale(model):
        rewrites.append(FOLDED_SCALE)
    if EAGER in rewrites and _drop_padding_masks(model):
        rewrites.append(NO_MASK)
    p = teacher.preprocess
    zoedepth = teacher.family == "zoedepth"
    return Original(
        family={"depth_anything": "depth-anything", "dpt": "dpt", "zoedepth": "zoedepth"}[teacher.family],
        spec=spec, module=HFDepthModule(model).eval(), task="mono", input_size=(height, width), mean=p.mean,
        std=p.std, output_kind=teacher.kind, sha256=teacher.weights_sha256, teacher=teacher.identity(),
        input_filter="bilinear-align-corners" if zoedepth else "bicubic-antialias", output_filter="bicubic",
        rewrites=rewrites)
