"""The distillation losses live in `edgedepth.distill.losses`, beside the training that uses them; this module keeps
their older import path working for scripts written against it."""

from edgedepth.distill.losses import (
    GRADIENT_LEVELS,
    depth_distillation_loss,
    disparity_distillation_loss,
    gradient_matching_loss,
    masked_smooth_l1,
    median_mad,
    metric_depth_loss,
    normalize_median_mad,
    silog_loss,
    ssi_loss,
    trimmed_mean_abs,
)

__all__ = ["GRADIENT_LEVELS", "depth_distillation_loss", "disparity_distillation_loss", "gradient_matching_loss",
           "masked_smooth_l1", "median_mad", "metric_depth_loss", "normalize_median_mad", "silog_loss", "ssi_loss",
           "trimmed_mean_abs"]
