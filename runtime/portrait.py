"""Synthetic shallow depth of field from a depth map: the thin-lens blur of each depth layer, composited from
back to front, so the subject in focus stays sharp and its edges do not bleed into the blurred background.

The blur-circle diameter of a thin lens is proportional to |1/z − 1/z_focus|, i.e. to the difference of
disparities (or of relative inverse depths), so the radius here is `aperture` × a fraction of the image size ×
|nearness − nearness at focus|, on the map normalised to [0, 1]. Each layer continues behind everything nearer
(its hidden part filled in from its own visible pixels, never from what hides it), is blurred with a disc (the
bokeh of a round aperture) together with its coverage, and is composited over the layers behind it.
numpy's FFT does the convolutions; OpenCV, when installed, does them faster.
"""

from __future__ import annotations

import numpy as np

from runtime.preprocess import resize_bilinear

LAYERS = 16
MAX_RADIUS_FRACTION = 0.025  # disc radius at aperture 1 for the largest nearness difference, × max(H, W)
# At most this aperture: the disc then spans a fifth of the photo's longer side, beyond which each layer is a
# smear of the whole picture (and the disc's FFT alone grows with the square of it).
MAX_APERTURE = 8.0
AUTO_FOCUS_SHARE = 0.05  # auto focus: the nearest layer holding at least this share of the pixels


def normalised_nearness(nearness: np.ndarray) -> np.ndarray:
    """The map scaled to [0, 1] between its 1st and 99th percentiles; pixels without a value count as far (0)."""
    values = np.asarray(nearness, np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, np.float32)
    low, high = np.percentile(values[finite], [1, 99])
    span = high - low if high > low else 1.0
    return np.clip(np.where(finite, (values - low) / span, 0.0), 0.0, 1.0).astype(np.float32)


def layer_index(near: np.ndarray, layers: int = LAYERS) -> np.ndarray:
    """The depth layer (0 = farthest) of every pixel of a normalised nearness map."""
    return np.minimum((near * layers).astype(np.int32), layers - 1)


def auto_focus(near: np.ndarray, layers: int = LAYERS) -> float:
    """The nearness to focus on when no point is given: the nearest layer that holds a large region."""
    index = layer_index(near, layers)
    counts = np.bincount(index.ravel(), minlength=layers)
    for layer in range(layers - 1, -1, -1):
        if counts[layer] >= AUTO_FOCUS_SHARE * index.size:
            return float(np.median(near[index == layer]))
    return float(np.median(near))


def focus_at(near: np.ndarray, x: int, y: int) -> float:
    """The nearness at pixel (x, y): the median of a small window, robust to an edge under the point."""
    height, width = near.shape
    if not (0 <= x < width and 0 <= y < height):
        raise ValueError(f"focus point {x},{y} is outside the {width}×{height} photo")
    r = max(1, min(height, width) // 100)
    return float(np.median(near[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1]))


def disc_kernel(radius: float) -> np.ndarray:
    """A normalised disc of `radius` pixels, its rim anti-aliased over one pixel."""
    size = int(np.ceil(radius))
    yy, xx = np.mgrid[-size:size + 1, -size:size + 1]
    kernel = np.clip(radius + 0.5 - np.hypot(yy, xx), 0.0, 1.0)
    return (kernel / kernel.sum()).astype(np.float32)


def _convolve(planes: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Each of C×H×W planes convolved with `kernel`, zero outside the image (same size out)."""
    try:
        import cv2
    except ImportError:
        cv2 = None
    if cv2 is not None:
        return np.stack([cv2.filter2D(p, -1, kernel, borderType=cv2.BORDER_CONSTANT) for p in planes])
    _, height, width = planes.shape
    kh, kw = kernel.shape
    shape = (height + kh - 1, width + kw - 1)
    spectrum = np.fft.rfft2(planes, s=shape) * np.fft.rfft2(kernel, s=shape)
    full = np.fft.irfft2(spectrum, s=shape)
    top, left = kh // 2, kw // 2
    return full[:, top:top + height, left:left + width].astype(np.float32)


def fill_hidden(planes: np.ndarray, known: np.ndarray) -> np.ndarray:
    """C×H×W planes with the pixels outside `known` filled from the known ones nearby (pull-push: averages over
    ever coarser 2×2 blocks, then back down, each level keeping its own averages where it has any)."""
    levels = [(planes * known, known.astype(np.float32))]
    while max(levels[-1][1].shape) > 1:
        values, weights = levels[-1]
        height, width = weights.shape
        pad = ((0, height % 2), (0, width % 2))
        values, weights = np.pad(values, ((0, 0), *pad)), np.pad(weights, pad)
        h2, w2 = weights.shape[0] // 2, weights.shape[1] // 2
        levels.append((values.reshape(len(planes), h2, 2, w2, 2).sum((2, 4)),
                       weights.reshape(h2, 2, w2, 2).sum((1, 3))))
    estimate = levels[-1][0] / np.maximum(levels[-1][1], 1e-6)
    for values, weights in reversed(levels[:-1]):
        coarse = np.stack([resize_bilinear(plane, *weights.shape) for plane in estimate])
        estimate = np.where(weights > 0, values / np.maximum(weights, 1e-6), coarse)
    return estimate.astype(np.float32)


def render_portrait(image: np.ndarray, nearness: np.ndarray, focus: tuple[int, int] | None = None,
                    aperture: float = 1.0, layers: int = LAYERS) -> np.ndarray:
    """The photo (H×W×3 uint8) with synthetic depth of field from `nearness` (H×W, larger = nearer: disparity,
    relative inverse depth or 1/metric depth), focused at pixel `focus` (x, y) or automatically."""
    if image.shape[:2] != nearness.shape:
        raise ValueError(f"photo {image.shape[:2]} and depth map {nearness.shape} differ in size")
    if not 0.0 <= aperture <= MAX_APERTURE:  # also refuses NaN
        raise ValueError(f"aperture must be between 0 and {MAX_APERTURE:g}, got {aperture}")
    near = normalised_nearness(nearness)
    target = auto_focus(near, layers) if focus is None else focus_at(near, *focus)
    return render_layers(image, near, target, aperture * MAX_RADIUS_FRACTION * max(near.shape), layers)


def render_layers(image: np.ndarray, near: np.ndarray, target: float, max_radius: float,
                  layers: int = LAYERS) -> np.ndarray:
    """The layered render proper: `near` normalised to [0, 1], the focus nearness `target`, and the disc radius
    (pixels) of a nearness difference of 1."""
    index = layer_index(near, layers)
    colour = np.moveaxis(image.astype(np.float32) / 255.0, 2, 0)
    accumulated = np.zeros((3, *near.shape), np.float32)
    coverage = np.zeros(near.shape, np.float32)
    for layer in range(layers):  # back to front
        own = index == layer
        if not own.any():
            continue
        radius = max_radius * abs(float(np.mean(near[own])) - target)
        # The layer goes on behind everything nearer: there its colour is filled in from its visible pixels.
        support = index >= layer
        layer_colour = fill_hidden(colour, own) if (support & ~own).any() else colour
        planes = np.concatenate([layer_colour * support, support[None].astype(np.float32)])
        if radius >= 0.5:
            planes = _convolve(planes, disc_kernel(radius))
        alpha = np.clip(planes[3], 0.0, 1.0)
        accumulated = planes[:3] + accumulated * (1.0 - alpha)
        coverage = alpha + coverage * (1.0 - alpha)
    result = accumulated / np.maximum(coverage, 1e-6)
    return np.clip(np.rint(np.moveaxis(result, 0, 2) * 255.0), 0, 255).astype(np.uint8)
