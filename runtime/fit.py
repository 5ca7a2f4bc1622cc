"""How a photo meets a bundle's fixed input size, and how the output maps back to every pixel of the photo.

stretch (default, what training does): the whole photo is resized to the input, the output resized back.
letterbox: the photo is scaled to fit inside the input keeping its aspect, the rest filled with mid grey; the
output's photo region is cut out and resized back. crop: the photo is scaled to cover the input and its centre
cut out; the output covers that centre of the photo, the rest is NaN (not seen by the model).
Disparity is a horizontal distance: brought back to the photo, it is multiplied by the photo's pixels per model
pixel across the region the model saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.bundle import DISPARITY
from runtime.preprocess import output_map
from runtime.resize import DEFAULT_FILTER, resize

FITS = ("stretch", "letterbox", "crop")
FILL = 127.5  # letterbox padding: mid grey, near the normalised zero of ImageNet-style inputs


@dataclass(frozen=True)
class Fit:
    """The mapping between one photo size and one model input size.

    `photo_box` (top, left, bottom, right) is the part of the photo the model sees; `model_box` where it lands in
    the model's input. stretch maps whole to whole."""

    mode: str
    photo_size: tuple[int, int]
    model_size: tuple[int, int]
    photo_box: tuple[int, int, int, int]
    model_box: tuple[int, int, int, int]
    input_filter: str = DEFAULT_FILTER  # how the photo is resized to the input (the manifest input's "resize")
    output_filter: str = DEFAULT_FILTER  # how the output is brought back (the manifest output's "resize")

    def to_model(self, image: np.ndarray) -> np.ndarray:
        """The photo (H×W×C) as the model's H×W×C input, float32 pixel values (normalisation comes later)."""
        if self.mode == "stretch":
            return resize(image, *self.model_size, self.input_filter)
        top, left, bottom, right = self.photo_box
        m_top, m_left, m_bottom, m_right = self.model_box
        canvas = np.full((*self.model_size, image.shape[2]), FILL, np.float32)
        canvas[m_top:m_bottom, m_left:m_right] = resize(image[top:bottom, left:right], m_bottom - m_top,
                                                        m_right - m_left, self.input_filter)
        return canvas

    def to_photo(self, output: np.ndarray, kind: str) -> np.ndarray:
        """One model output (any batch/channel layout of one map) as an H×W float32 map of the photo; disparity
        values rescaled to the photo's pixels; NaN where the model saw nothing of the photo (crop)."""
        values = output_map(output).astype(np.float32)
        if self.mode == "stretch":  # whole to whole: one resize from the output's own resolution, as scoring does
            region = resize(values, *self.photo_size, self.output_filter)
            if kind == DISPARITY:
                region *= np.float32(self.photo_size[1] / self.model_size[1])
            return region
        if values.shape != self.model_size:  # an output at a fraction of the input resolution
            values = resize(values, *self.model_size, self.output_filter)
        top, left, bottom, right = self.photo_box
        m_top, m_left, m_bottom, m_right = self.model_box
        region = resize(values[m_top:m_bottom, m_left:m_right], bottom - top, right - left, self.output_filter)
        if kind == DISPARITY:
            region *= np.float32((right - left) / (m_right - m_left))
        photo = np.full(self.photo_size, np.nan, np.float32)
        photo[top:bottom, left:right] = region
        return photo


def plan_fit(mode: str, photo_size: tuple[int, int], model_size: tuple[int, int],
             filters: tuple[str, str] = (DEFAULT_FILTER, DEFAULT_FILTER)) -> Fit:
    """The Fit of `mode` for a photo of `photo_size` (H, W) and a model input of `model_size` (h, w); `filters`
    are the (input, output) resize filters."""
    if mode not in FITS:
        raise ValueError(f"unknown fit '{mode}' (known: {', '.join(FITS)})")
    (height, width), (h, w) = photo_size, model_size
    whole_photo, whole_model = (0, 0, height, width), (0, 0, h, w)
    if mode == "stretch":
        return Fit(mode, photo_size, model_size, whole_photo, whole_model, *filters)
    if mode == "letterbox":
        scale = min(h / height, w / width)
        inner_h, inner_w = max(1, round(height * scale)), max(1, round(width * scale))
        top, left = (h - inner_h) // 2, (w - inner_w) // 2
        return Fit(mode, photo_size, model_size, whole_photo, (top, left, top + inner_h, left + inner_w), *filters)
    scale = max(h / height, w / width)
    seen_h, seen_w = min(height, max(1, round(h / scale))), min(width, max(1, round(w / scale)))
    top, left = (height - seen_h) // 2, (width - seen_w) // 2
    return Fit(mode, photo_size, model_size, (top, left, top + seen_h, left + seen_w), whole_model, *filters)


def restore_disparity(output: np.ndarray, height: int, width: int) -> np.ndarray:
    """A disparity map at the model's resolution brought to height × width: resized, and its values (pixels of
    the model's input) scaled to pixels of the image (the stretch rule)."""
    model_h, model_w = output_map(output).shape
    return plan_fit("stretch", (height, width), (model_h, model_w)).to_photo(output, DISPARITY)
