"""Depth maps to colour pictures, numpy only: 256-entry lookup tables computed from published polynomial fits.

turbo: Google's Turbo rainbow map, 6th-degree polynomial approximation by Ruofei Du (Apache-2.0 coefficients).
magma: matplotlib's perceptually uniform magma, 6th-degree fit published by Matt Zucker (CC0 coefficients).
"""

from __future__ import annotations

from functools import cache

import numpy as np

# Coefficients of t^0 … t^5 (turbo) and t^0 … t^6 (magma) per channel (R, G, B).
_POLYNOMIALS = {
    "turbo": (
        (0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943),
        (0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604),
        (0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973),
    ),
    "magma": (
        (-0.002136485053939582, 0.2516605407371642, 8.353717279216625, -27.66873308576866,
         52.17613981234068, -50.76852536473588, 18.65570506591883),
        (-0.000749655052795221, 0.6775232436837668, -3.577719514958484, 14.26473078096533,
         -27.94360607168351, 29.04658282127291, -11.48977351997711),
        (-0.005386127855323933, 2.494026599312351, 0.3144679030132573, -13.64921318813922,
         12.94416944238394, 4.23415299384598, -5.601961508734096),
    ),
}
COLORMAPS = (*_POLYNOMIALS, "gray")


@cache
def colormap_lut(name: str) -> np.ndarray:
    """256×3 uint8 table of colormap `name` (turbo, magma or gray) sampled at t = i / 255."""
    t = np.linspace(0.0, 1.0, 256)
    if name == "gray":
        channels = [t, t, t]
    elif name in _POLYNOMIALS:
        channels = [np.polynomial.polynomial.polyval(t, coeffs) for coeffs in _POLYNOMIALS[name]]
    else:
        raise ValueError(f"unknown colormap '{name}' (known: {', '.join(COLORMAPS)})")
    lut = np.rint(np.clip(np.stack(channels, axis=1), 0.0, 1.0) * 255.0).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def colorize(depth: np.ndarray, vmin: float | None = None, vmax: float | None = None,
             cmap: str = "turbo") -> np.ndarray:
    """H×W values → H×W×3 uint8 via t = clip((v − vmin) / (vmax − vmin), 0, 1); non-finite pixels are black.

    vmin / vmax default to the finite minimum / maximum; a constant map comes out as the colormap's low end.
    """
    values = np.asarray(depth, dtype=np.float64)
    if values.ndim > 2:
        values = values.reshape([n for n in values.shape if n != 1] or [1, 1])
    if values.ndim != 2:
        raise ValueError(f"colorize expects one H×W map, got shape {list(np.shape(depth))}")
    finite = np.isfinite(values)
    lut = colormap_lut(cmap)
    if vmin is None:
        vmin = float(values[finite].min()) if finite.any() else 0.0
    if vmax is None:
        vmax = float(values[finite].max()) if finite.any() else 1.0
    span = float(vmax) - float(vmin)
    with np.errstate(invalid="ignore"):
        t = (values - float(vmin)) / span if span > 0 else np.zeros_like(values)
    index = np.rint(np.clip(np.where(finite, t, 0.0), 0.0, 1.0) * 255.0).astype(np.intp)
    image = lut[index]
    image[~finite] = 0
    return image
