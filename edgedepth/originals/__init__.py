"""Originals: teacher networks (Depth Anything, DPT, ZoeDepth, MiDaS v2.1 small, Monodepth2, RAFT-Stereo, AANet)
as fixed-size models the exporters take, so the original reaches the device as its student does."""

from edgedepth.originals.base import Original, OriginalError, SizeRule
from edgedepth.originals.registry import exportable_specs, original_from_spec

__all__ = ["Original", "OriginalError", "SizeRule", "exportable_specs", "original_from_spec"]
