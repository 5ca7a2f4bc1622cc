"""Mono originals (Depth Anything, DPT, ZoeDepth, MiDaS v2.1 small, Monodepth2), small and random-init in their
official layouts, exported to every format at fp32 and held to torch."""

from __future__ import annotations

import pytest

from tests.originals.checks import check_family


@pytest.mark.slow
@pytest.mark.parametrize("family", ["depth-anything", "dpt", "zoedepth", "midas-v2.1-small", "monodepth2"])
def test_mono_original_exports_to_every_format(family, tmp_path):
    check_family(family, tmp_path)
