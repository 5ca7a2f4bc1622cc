"""The project's metrics in one place (numpy only): depth, relative depth (MiDaS protocol), stereo, agreement.

Units: AbsRel, SqRel, RMSE, RMSE log and δk are as in the depth literature (δk a fraction in [0, 1]); stereo
bad-N and D1 are percentages in [0, 100] as Middlebury and KITTI publish them; EPE is in pixels. Each call
evaluates one image; pixels are used where `mask` is True and the ground truth is finite and positive.
An empty selection raises ValueError, and so does a non-finite prediction on a selected pixel.
"""

from __future__ import annotations

import math

import numpy as np

DELTA_BASE = 1.25


def _arrays(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """float64 views of pred and target and a boolean mask of the same shape (all True when None)."""
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {list(pred.shape)} differs from target {list(target.shape)}")
    mask = np.ones(pred.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != pred.shape:
        raise ValueError(f"mask shape {list(mask.shape)} differs from prediction shape {list(pred.shape)}")
    return pred, target, mask


def _select(pred: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """pred on valid pixels; ValueError if there are none or the prediction is not finite there."""
    if not valid.any():
        raise ValueError("empty mask: no valid pixels to evaluate")
    values = pred[valid]
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise ValueError(f"prediction has {bad} non-finite values on valid pixels")
    return values


def align_scale_shift(pred: np.ndarray, target: np.ndarray,
                      mask: np.ndarray | None = None) -> tuple[np.ndarray, float, float]:
    """Least-squares s, t minimising Σ_mask (s·pred + t − target)²; returns (s·pred + t, s, t).

    Closed form on the masked pixels: s = Σ(p − p̄)(g − ḡ) / Σ(p − p̄)², t = ḡ − s·p̄ (s = 0, t = ḡ when the
    prediction is constant there: the best constant fit). The MiDaS protocol applies it per image in
    inverse-depth (disparity) space.
    """
    pred, target, mask = _arrays(pred, target, mask)
    valid = mask & np.isfinite(target)
    p = _select(pred, valid)
    g = target[valid]
    p_mean, g_mean = p.mean(), g.mean()
    p_centred = p - p_mean
    denominator = float(np.dot(p_centred, p_centred))
    # A constant prediction is tested exactly: the rounding error of p̄ would otherwise leave a tiny Σ(p − p̄)²
    # and an arbitrary scale (with a shift that cancels it only up to rounding).
    constant = bool(p.max() == p.min())
    scale = float(np.dot(p_centred, g - g_mean) / denominator) if denominator > 0 and not constant else 0.0
    shift = float(g_mean - scale * p_mean)
    return scale * pred + shift, scale, shift


def depth_metrics(pred_depth: np.ndarray, gt_depth: np.ndarray,
                  mask: np.ndarray | None = None) -> dict[str, float]:
    """Depth errors of d (pred) against d* (gt) over valid pixels (mask, d* finite and > 0), N of them:

    absrel = Σ|d − d*| / d* / N            sqrel = Σ(d − d*)² / d* / N
    rmse = √(Σ(d − d*)² / N)               rmse_log = √(Σ(ln d − ln d*)² / N)
    deltaK = #{max(d / d*, d* / d) < 1.25^K} / N  for K = 1, 2, 3 (fractions in [0, 1])

    d must be positive on valid pixels; values ≤ 0 are floored at 1e-12, which counts them as maximal errors.
    """
    pred, gt, mask = _arrays(pred_depth, gt_depth, mask)
    valid = mask & np.isfinite(gt) & (gt > 0)
    d = np.maximum(_select(pred, valid), 1e-12)
    g = gt[valid]
    diff = d - g
    ratio = np.maximum(d / g, g / d)
    return {
        "absrel": float(np.mean(np.abs(diff) / g)),
        "sqrel": float(np.mean(diff**2 / g)),
        "rmse": float(np.sqrt(np.mean(diff**2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(d) - np.log(g)) ** 2))),
        "delta1": float(np.mean(ratio < DELTA_BASE)),
        "delta2": float(np.mean(ratio < DELTA_BASE**2)),
        "delta3": float(np.mean(ratio < DELTA_BASE**3)),
    }


def relative_depth_metrics(pred_inv: np.ndarray, gt_depth: np.ndarray, mask: np.ndarray | None = None,
                           min_depth: float | None = None,
                           max_depth: float | None = None) -> dict[str, float]:
    """`depth_metrics` of a relative inverse-depth prediction after MiDaS alignment.

    1. valid = mask ∧ d* finite ∧ d* > 0 (∧ min_depth ≤ d* ≤ max_depth when given);
    2. s, t = least squares of s·pred + t against 1/d* on valid pixels (`align_scale_shift`);
    3. the aligned disparity is floored at 1/max_depth (max_depth defaults to the largest valid d*), so no
       predicted depth is negative or beyond the farthest depth evaluated;
    4. depth = 1 / aligned disparity, then `depth_metrics` on the valid pixels.
    Invariant to any positive scale and any shift of `pred_inv`.
    """
    pred, gt, mask = _arrays(pred_inv, gt_depth, mask)
    valid = mask & np.isfinite(gt) & (gt > 0)
    if min_depth is not None:
        valid &= gt >= min_depth
    if max_depth is not None:
        valid &= gt <= max_depth
    if not valid.any():
        raise ValueError("empty mask: no valid pixels to evaluate")
    with np.errstate(divide="ignore", invalid="ignore"):
        target = np.where(valid, 1.0 / gt, 0.0)
    aligned, _, _ = align_scale_shift(pred, target, valid)
    far = float(max_depth) if max_depth is not None else float(gt[valid].max())
    disparity = np.maximum(np.where(valid, aligned, 1.0), 1.0 / far)
    return depth_metrics(1.0 / disparity, gt, valid)


def stereo_metrics(pred_disp: np.ndarray, gt_disp: np.ndarray,
                   mask: np.ndarray | None = None) -> dict[str, float]:
    """Disparity errors over valid pixels (mask ∧ d* finite; Middlebury marks invalid as +inf), e = |d − d*|:

    epe = Σe / N (pixels);  badN = 100 · #{e > N} / N for N = 1, 2, 3 (percent; Middlebury reports bad-2.0);
    d1 = 100 · #{e > 3 ∧ e > 0.05·|d*|} / N (KITTI 2015 D1, percent).
    """
    pred, gt, mask = _arrays(pred_disp, gt_disp, mask)
    valid = mask & np.isfinite(gt)
    d = _select(pred, valid)
    g = gt[valid]
    err = np.abs(d - g)
    return {
        "epe": float(err.mean()),
        "bad1": float(100.0 * np.mean(err > 1.0)),
        "bad2": float(100.0 * np.mean(err > 2.0)),
        "bad3": float(100.0 * np.mean(err > 3.0)),
        "d1": float(100.0 * np.mean((err > 3.0) & (err > 0.05 * np.abs(g)))),
    }


def _value_range(reference: np.ndarray) -> float:
    """max − min of the reference; max|ref| when it is constant, 1 when it is all zeros."""
    span = float(reference.max() - reference.min())
    if span > 0:
        return span
    peak = float(np.abs(reference).max())
    return peak if peak > 0 else 1.0


def agreement(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """How closely `candidate` reproduces `reference` (same shape, e.g. an int8 output vs the fp32 one):

    R = max(ref) − min(ref) (see `_value_range` for constant references), e = cand − ref over all elements:
    psnr_db = 20·log10(R / √mean(e²)), float('inf') when identical;
    max_abs_rel = max|e| / R;  mean_abs_rel = mean|e| / R;  rmse = √mean(e²);  max_abs = max|e|;
    absrel = mean(|e| / ref) and delta1 = #{cand > 0 ∧ max(cand/ref, ref/cand) < 1.25} / N over the elements
    where ref > 1e-6·max|ref| (both maps read as positive depth-like maps); NaN when there are none.
    """
    ref = np.asarray(reference, dtype=np.float64)
    got = np.asarray(candidate, dtype=np.float64)
    if ref.shape != got.shape:
        raise ValueError(f"candidate shape {list(got.shape)} differs from reference shape {list(ref.shape)}")
    if ref.size == 0:
        raise ValueError("empty arrays: nothing to compare")
    for label, values in (("reference", ref), ("candidate", got)):
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            raise ValueError(f"{label} has {bad} non-finite values")
    span = _value_range(ref)
    err = got - ref
    abs_err = np.abs(err)
    rmse = float(np.sqrt(np.mean(err**2)))
    psnr = math.inf if rmse == 0 else float(20.0 * math.log10(span / rmse))
    positive = ref > 1e-6 * float(np.abs(ref).max())
    if positive.any():
        r, c = ref[positive], got[positive]
        absrel = float(np.mean(np.abs(c - r) / r))
        with np.errstate(divide="ignore"):
            ratio = np.where(c > 0, np.maximum(c / r, r / np.where(c > 0, c, 1.0)), np.inf)
        delta1 = float(np.mean(ratio < DELTA_BASE))
    else:
        absrel = delta1 = math.nan
    return {
        "psnr_db": psnr,
        "max_abs_rel": float(abs_err.max() / span),
        "mean_abs_rel": float(abs_err.mean() / span),
        "rmse": rmse,
        "max_abs": float(abs_err.max()),
        "absrel": absrel,
        "delta1": delta1,
    }


def output_correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Pearson correlation of two maps of the same shape, flattened (over `mask` when given); 0.0 when either is
    constant there, since a constant map carries no pattern to share."""
    first, second, mask = _arrays(a, b, mask)
    if not mask.any():
        raise ValueError("empty mask: no valid pixels to evaluate")
    x, y = first[mask], second[mask]
    for label, values in (("first", x), ("second", y)):
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            raise ValueError(f"{label} map has {bad} non-finite values on valid pixels")
    if x.max() == x.min() or y.max() == y.min():
        return 0.0
    x, y = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    if denominator == 0:
        return 0.0
    return float(np.clip(np.dot(x, y) / denominator, -1.0, 1.0))


def mirror_equivariance(output: np.ndarray, output_of_mirrored: np.ndarray) -> float:
    """corr(f(flip x), flip f(x)), flipping the last (width) axis: 1 for a model whose output mirrors when its
    input is mirrored, as a depth model's must; low for one that paints a fixed, left-right asymmetric map.

    A map that is itself left-right symmetric (a top-to-bottom gradient, a centred blob) also scores 1, so this
    check needs `input_dependence` beside it.
    """
    return output_correlation(output_of_mirrored, np.asarray(output)[..., ::-1])


def position_prior(photo_output: np.ndarray, noise_outputs: list[np.ndarray]) -> float:
    """Mean Pearson correlation of a model's output on a photo with its outputs on pure noise of the same size.

    Noise has no scene in it, so whatever a model paints on noise is where it expects things to be in any frame;
    a high correlation with its map of a real photo says that map is largely that prior, not the photo (a depth
    model that reads its image scores near 0)."""
    if not noise_outputs:
        raise ValueError("the position prior needs at least one output on noise")
    return float(np.mean([output_correlation(photo_output, noise) for noise in noise_outputs]))


def input_dependence(outputs: list[np.ndarray]) -> float:
    """Mean |Pearson correlation| of a model's outputs on unrelated inputs, over consecutive pairs (0, 1), (1, 2), …

    Low is good: a model that reads its image gives unrelated outputs for unrelated scenes (≈ 0), one that
    paints the same map whatever it sees scores ≈ 1. An exactly constant output scores 0 here (no pattern), so
    read it with the accuracy columns, which a constant map fails.
    """
    if len(outputs) < 2:
        raise ValueError(f"input dependence needs at least 2 outputs, got {len(outputs)}")
    pairs = zip(outputs[:-1], outputs[1:], strict=True)
    return float(np.mean([abs(output_correlation(a, b)) for a, b in pairs]))
