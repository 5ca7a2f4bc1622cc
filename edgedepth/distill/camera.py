"""What a phone camera does to a picture that procedural rendering does not: lens vignetting and blur before the
sensor, white balance, a tone curve (gamma) and JPEG compression after it. Each effect is drawn per sample from the
ranges of `Augment`; an effect whose range is zero draws nothing, so a run without them keeps its random stream."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLUR_SIGMA = (0.4, 1.2)  # Gaussian blur σ in pixels of the student's input, when a sample is blurred
JPEG_QUALITY = (30, 90)  # JPEG quality when a sample is compressed


@dataclass(frozen=True)
class CameraDraws:
    """Per-sample effects (N entries each): vignetting strength, blur σ (0: none), white-balance gains (N×3),
    gamma, JPEG quality (0: none)."""

    vignette: np.ndarray
    blur: np.ndarray
    white_balance: np.ndarray
    gamma: np.ndarray
    jpeg: np.ndarray


def camera_draws(rng: np.random.Generator, n: int, vignette: float, blur: float, color: float, gamma: float,
                 jpeg: float) -> CameraDraws | None:
    """The effects for `n` samples, drawn in a fixed order (vignette, blur, white balance, gamma, JPEG), each
    only when its range is non-zero; None when every range is zero."""
    if not any((vignette, blur, color, gamma, jpeg)):
        return None
    zeros = np.zeros(n, np.float32)
    strength = rng.uniform(0.0, vignette, n).astype(np.float32) if vignette else zeros
    sigma = zeros
    if blur:
        blurred = rng.random(n) < blur
        sigma = np.where(blurred, rng.uniform(*BLUR_SIGMA, n), 0.0).astype(np.float32)
    gains = rng.uniform(1 - color, 1 + color, (n, 3)).astype(np.float32) if color else np.ones((n, 3), np.float32)
    gammas = np.exp(rng.uniform(-gamma, gamma, n)).astype(np.float32) if gamma else np.ones(n, np.float32)
    quality = np.zeros(n, np.int32)
    if jpeg:
        compressed = rng.random(n) < jpeg
        quality = np.where(compressed, rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1, n), 0).astype(np.int32)
    return CameraDraws(strength, sigma, gains, gammas, quality)


def _vignette_mask(height: int, width: int) -> np.ndarray:
    """Squared distance from the image centre, 0 at the centre and 1 at the corners (H×W)."""
    y = (np.arange(height, dtype=np.float32) + 0.5) / height * 2 - 1
    x = (np.arange(width, dtype=np.float32) + 0.5) / width * 2 - 1
    return (y[:, None] ** 2 + x[None, :] ** 2) / 2


def through_lens(raw: np.ndarray, draws: CameraDraws) -> np.ndarray:
    """Vignetting (brightness × (1 − strength · r²)) and Gaussian blur on N×3×H×W images in 0..1, in place."""
    import cv2

    _, _, height, width = raw.shape
    if np.any(draws.vignette):
        raw *= 1 - draws.vignette[:, None, None, None] * _vignette_mask(height, width)
    for i in np.flatnonzero(draws.blur):
        image = np.ascontiguousarray(raw[i].transpose(1, 2, 0))
        raw[i] = cv2.GaussianBlur(image, (0, 0), float(draws.blur[i])).transpose(2, 0, 1)
    return raw


def after_sensor(raw: np.ndarray, draws: CameraDraws) -> np.ndarray:
    """White balance, gamma and JPEG on N×3×H×W images in 0..1 (clipped to 0..1 first), in place."""
    import cv2

    raw *= draws.white_balance[:, :, None, None]
    np.clip(raw, 0.0, 1.0, out=raw)
    if np.any(draws.gamma != 1):
        np.power(raw, draws.gamma[:, None, None, None], out=raw)
    for i in np.flatnonzero(draws.jpeg):
        pixels = np.round(raw[i].transpose(1, 2, 0)[..., ::-1] * 255).astype(np.uint8)  # RGB → BGR for cv2
        ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(draws.jpeg[i])])
        if not ok:
            raise RuntimeError("OpenCV could not JPEG-encode an augmented image")
        raw[i] = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1].transpose(2, 0, 1).astype(np.float32) / 255
    return raw
