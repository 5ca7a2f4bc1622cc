"""Benchmark protocols (numpy only): how the papers score a depth or disparity map against a benchmark's ground
truth, so that a number here means what the published one means.

A `Protocol` names the pixels that count (a crop, a depth range) and the stereo error thresholds; an alignment
says how a prediction without metric scale is brought to the ground truth's:

- "lsq-inverse": least-squares scale and shift in inverse depth, then inverted (MiDaS; relative predictions);
- "median": depth multiplied by median(d*) / median(d) (Monodepth2's monocular protocol), then clipped to the
  protocol's depth range;
- "none": the prediction is metric depth and is scored as it is (clipped to the depth range, as the papers do).

Depth columns are the papers' in their order (AbsRel, SqRel, RMSE, RMSE log, δ1, δ2, δ3; `runtime.metrics`).
Stereo columns: EPE and bad-τ (% of pixels with |d − d*| > τ px) on all valid pixels and, where the benchmark
gives a mask, on non-occluded ones (`_noc`), and KITTI's D1 (> 3 px and > 5 % of d*). A method that leaves holes
is scored with its holes counted as misses (its EPE taking 0 disparity there) and, as `…_own` keys, on its own
pixels alone, with the share of ground-truth pixels it covers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.errors import RequestError
from runtime.metrics import depth_metrics, relative_depth_metrics
from runtime.registry import Registry

RELATIVE_KIND, METRIC_KIND = "relative_inverse_depth", "metric_depth"  # runtime.bundle's output kinds
ALIGNMENTS = {
    "lsq-inverse": "least-squares scale and shift in inverse depth per image, then inverted (MiDaS)",
    "median": "depth scaled per image by median(ground truth) / median(prediction), then clipped to the depth "
              "range (Monodepth2)",
    "none": "metric depth scored as predicted, clipped to the depth range",
}


@dataclass(frozen=True)
class Crop:
    """A rectangle of the image that counts: fractions of the height and width (top, bottom, left, right),
    truncated to pixels as Monodepth's evaluation does, or a pixel box at a `reference` (height, width), scaled."""

    name: str
    box: tuple[float, float, float, float]
    reference: tuple[int, int] | None = None

    def mask(self, height: int, width: int) -> np.ndarray:
        """Boolean H×W mask, True inside the crop."""
        top, bottom, left, right = self.box
        if self.reference is None:
            rows = (np.array([top, bottom]) * height).astype(np.int32)
            cols = (np.array([left, right]) * width).astype(np.int32)
        else:
            ref_h, ref_w = self.reference
            rows = np.round(np.array([top, bottom]) * height / ref_h).astype(np.int32)
            cols = np.round(np.array([left, right]) * width / ref_w).astype(np.int32)
        mask = np.zeros((height, width), dtype=bool)
        mask[rows[0]:rows[1], cols[0]:cols[1]] = True
        return mask


CROPS = {
    # Garg et al. (ECCV 2016), the crop Monodepth2 applies on the Eigen split.
    "kitti-garg": Crop("kitti-garg", (0.40810811, 0.99189189, 0.03594771, 0.96405229)),
    # The crop found to reproduce Eigen et al. (NIPS 2014), as in Monodepth's evaluate_kitti.py.
    "kitti-eigen": Crop("kitti-eigen", (0.3324324, 0.91351351, 0.0359477, 0.96405229)),
    # Eigen et al.'s NYU crop: rows 45:471, columns 41:601 of the 480×640 image (the white border left out).
    "nyu-eigen": Crop("nyu-eigen", (45, 471, 41, 601), reference=(480, 640)),
}


@dataclass(frozen=True)
class Protocol:
    """One benchmark's scoring rules: the crop and depth range of depth scoring, the stereo thresholds, and the
    headline column a summary shows (the first key of `headline_*` that a row has)."""


    name: str
    summary: str
    crop: str | None = None
    min_depth: float | None = None
    max_depth: float | None = None
    thresholds: tuple[float, ...] = (1.0, 2.0, 3.0)
    headline_depth: tuple[str, ...] = ("delta1",)
    headline_stereo: tuple[str, ...] = ("bad2",)
    occlusion: bool = True  # score the `_noc` columns where a sample has a non-occlusion mask

    def depth_mask(self, gt_depth: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """The pixels depth is scored on: valid, finite, inside the crop, min_depth < d* < max_depth."""
        gt = np.asarray(gt_depth, dtype=np.float64)
        mask = np.asarray(valid, dtype=bool) & np.isfinite(gt) & (gt > 0)
        with np.errstate(invalid="ignore"):
            if self.min_depth is not None:
                mask &= gt > self.min_depth
            if self.max_depth is not None:
                mask &= gt < self.max_depth
        if self.crop is not None:
            mask &= CROPS[self.crop].mask(*gt.shape)
        return mask

    def describe(self, alignment: str | None = None) -> str:
        """The protocol in words, with the alignment when one applies (what a report prints)."""
        text = f"{self.name}: {self.summary}"
        return text if alignment is None else f"{text}; alignment {alignment}: {ALIGNMENTS[alignment]}"


PROTOCOLS: Registry[Protocol] = Registry("protocol", key=lambda protocol: protocol.name)


def default_alignment(kind: str) -> str:
    """The alignment a paper uses for an output kind: MiDaS's for relative inverse depth, none for metric."""
    return "none" if kind == METRIC_KIND else "lsq-inverse"


def check_alignment(alignment: str, kind: str) -> None:
    """RequestError (one line) for an unknown alignment, or "none" on a relative output (it has no scale)."""
    if alignment not in ALIGNMENTS:
        raise RequestError(f"unknown alignment '{alignment}' (known: {', '.join(ALIGNMENTS)})")
    if alignment == "none" and kind != METRIC_KIND:
        raise RequestError(f"alignment 'none' needs metric depth; this output is {kind} (use lsq-inverse or median)")


def median_scale(pred_depth: np.ndarray, gt_depth: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """(pred · s, s) with s = median(d* on mask) / median(d on mask): Monodepth2's per-image scaling."""
    pred = np.asarray(pred_depth, dtype=np.float64)
    gt = np.asarray(gt_depth, dtype=np.float64)
    if not mask.any():
        raise ValueError("empty mask: no valid pixels to evaluate")
    reference = float(np.median(pred[mask]))
    if not np.isfinite(reference) or reference <= 0:
        raise ValueError("median scaling needs a positive prediction on the evaluated pixels")
    scale = float(np.median(gt[mask])) / reference
    return pred * scale, scale


def _as_depth(pred: np.ndarray, kind: str) -> np.ndarray:
    """A prediction as depth: metric as it is, relative inverse depth inverted (0 where it is not positive)."""
    pred = np.asarray(pred, dtype=np.float64)
    if kind == METRIC_KIND:
        return pred
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pred > 0, 1.0 / np.where(pred > 0, pred, 1.0), 0.0)


def _clip(depth: np.ndarray, protocol: Protocol) -> np.ndarray:
    """Depth clipped to the protocol's range where it has one (the papers clip predictions before scoring)."""
    low = protocol.min_depth if protocol.min_depth is not None else -np.inf
    high = protocol.max_depth if protocol.max_depth is not None else np.inf
    return np.clip(depth, low, high)


def score_depth(pred: np.ndarray, kind: str, gt_depth: np.ndarray, valid: np.ndarray, protocol: Protocol,
                alignment: str | None = None) -> dict[str, float]:
    """The depth columns of one image's prediction (`kind`: relative inverse depth or metric depth) under
    `protocol` and `alignment` (default: `default_alignment(kind)`); metric scored unaligned also reports its
    `coverage` (share of the scored pixels it gives a positive depth)."""
    alignment = alignment or default_alignment(kind)
    check_alignment(alignment, kind)
    mask = protocol.depth_mask(gt_depth, valid)
    if not mask.any():
        raise ValueError("empty mask: no ground-truth pixel left after the protocol's crop and depth range")
    if alignment == "lsq-inverse":
        inverse = np.asarray(pred, np.float64) if kind != METRIC_KIND else _as_depth(pred, RELATIVE_KIND)
        return relative_depth_metrics(inverse, gt_depth, mask, max_depth=protocol.max_depth)
    depth = _as_depth(pred, kind)
    if alignment == "median":
        depth, _ = median_scale(depth, gt_depth, mask & (depth > 0))
        return depth_metrics(_clip(depth, protocol), gt_depth, mask)
    coverage = float((mask & (depth > 0)).sum() / mask.sum())
    return {**depth_metrics(_clip(depth, protocol), gt_depth, mask), "coverage": coverage}


def bad_key(threshold: float) -> str:
    """The column name of bad-τ: 'bad2' for 2 px, 'bad0.5' for 0.5 px."""
    return f"bad{threshold:g}"


def _stereo_columns(error: np.ndarray, gt: np.ndarray, thresholds: tuple[float, ...]) -> dict[str, float]:
    """EPE, bad-τ and D1 of per-pixel errors (inf = a miss: bad at every τ, and never a D1 pass)."""
    finite = np.isfinite(error)
    out = {"epe": float(np.mean(np.where(finite, error, np.abs(gt))))}
    for threshold in thresholds:
        out[bad_key(threshold)] = float(100.0 * np.mean(error > threshold))
    out["d1"] = float(100.0 * np.mean((error > 3.0) & (error > 0.05 * np.abs(gt))))
    return out


def score_disparity(pred: np.ndarray, gt_disp: np.ndarray, valid: np.ndarray, protocol: Protocol,
                    nonoccluded: np.ndarray | None = None,
                    pred_valid: np.ndarray | None = None) -> dict[str, float]:
    """The stereo columns of one disparity map under `protocol` on valid (finite) ground truth: all pixels, then
    `_noc` on non-occluded ones when a mask is given. Holes (`pred_valid` False, or a non-finite prediction)
    count as misses; when there are any, the same columns on the method's own pixels follow as `…_own`, with
    `coverage`, the share of ground-truth pixels it fills."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt_disp, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {list(pred.shape)} differs from ground truth {list(gt.shape)}")
    scored = np.asarray(valid, dtype=bool) & np.isfinite(gt)
    if not scored.any():
        raise ValueError("empty mask: no valid pixels to evaluate")
    filled = np.isfinite(pred) if pred_valid is None else np.asarray(pred_valid, dtype=bool) & np.isfinite(pred)
    with np.errstate(invalid="ignore"):
        error = np.where(filled, np.abs(pred - gt), np.inf)
    regions = {"": scored}
    if nonoccluded is not None:
        regions["_noc"] = scored & np.asarray(nonoccluded, dtype=bool)
    out: dict[str, float] = {}
    for suffix, region in regions.items():
        if region.any():
            out.update({k + suffix: v for k, v in _stereo_columns(error[region], gt[region],
                                                                   protocol.thresholds).items()})
    holes = scored & ~filled
    if holes.any():
        own = scored & filled
        out["coverage"] = float(own.sum() / scored.sum())
        for suffix, region in regions.items():
            mine = region & filled
            if mine.any():
                out.update({f"{k}{suffix}_own": v for k, v in _stereo_columns(error[mine], gt[mine],
                                                                              protocol.thresholds).items()})
    return out


_STEREO_MIDDLEBURY = (0.5, 1.0, 2.0, 4.0)
for _protocol in (
    Protocol("procedural", "every valid pixel of the procedural scenes; no crop or depth range; bad-1/2/3, D1",
             occlusion=False),
    Protocol("middlebury", "every valid pixel (+inf or 0 = unknown), non-occluded where mask0nocc says; no crop or "
             "depth range; EPE, bad-0.5/1/2/4, D1", thresholds=_STEREO_MIDDLEBURY,
             headline_stereo=("bad2_noc", "bad2")),
    Protocol("eth3d", "every valid pixel, non-occluded where mask0nocc says; EPE, bad-0.5/1/2/4 (bad-1 headline)",
             thresholds=_STEREO_MIDDLEBURY, headline_stereo=("bad1_noc", "bad1")),
    Protocol("kitti-2015", "KITTI 2015 stereo: disp_occ (all) and disp_noc pixels; D1 = error > 3 px and > 5 %; "
             "depth 1e-3 to 80 m", min_depth=1e-3, max_depth=80.0, thresholds=(3.0,), headline_stereo=("d1",)),
    Protocol("kitti-2012", "KITTI 2012 stereo: disp_occ (all) and disp_noc pixels; Out-2/3/4/5 px (bad-3 noc "
             "headline); depth 1e-3 to 80 m", min_depth=1e-3, max_depth=80.0, thresholds=(2.0, 3.0, 4.0, 5.0),
             headline_stereo=("bad3_noc", "bad3")),
    Protocol("kitti-garg", "KITTI Eigen split, Garg crop, depth 1e-3 to 80 m (Monodepth2)", crop="kitti-garg",
             min_depth=1e-3, max_depth=80.0),
    Protocol("kitti-garg-50m", "KITTI Eigen split, Garg crop, depth 1e-3 to 50 m", crop="kitti-garg",
             min_depth=1e-3, max_depth=50.0),
    Protocol("kitti-eigen", "KITTI Eigen split, Eigen crop, depth 1e-3 to 80 m", crop="kitti-eigen",
             min_depth=1e-3, max_depth=80.0),
    Protocol("kitti-eigen-50m", "KITTI Eigen split, Eigen crop, depth 1e-3 to 50 m", crop="kitti-eigen",
             min_depth=1e-3, max_depth=50.0),
    Protocol("nyu-eigen", "NYU Depth v2 test images, Eigen crop (rows 45:471, columns 41:601 at 480×640), depth "
             "1e-3 to 10 m", crop="nyu-eigen", min_depth=1e-3, max_depth=10.0),
    Protocol("nyu-full", "NYU Depth v2, the whole image, depth 1e-3 to 10 m", min_depth=1e-3, max_depth=10.0),
    Protocol("tum", "TUM RGB-D, the whole image, depth 1e-3 to 10 m", min_depth=1e-3, max_depth=10.0),
    Protocol("diode", "DIODE, the pixels its depth mask keeps, depth above 1e-3 m, no cap", min_depth=1e-3),
    Protocol("diode-10m", "DIODE, the pixels its depth mask keeps, depth 1e-3 to 10 m (indoor evaluations)",
             min_depth=1e-3, max_depth=10.0),
):
    PROTOCOLS.register(_protocol)


def get_protocol(name: str) -> Protocol:
    """The protocol registered as `name`; a one-line RequestError naming the known ones otherwise."""
    return PROTOCOLS.get(name)
