"""edgedepth students: EfficientNet-Lite encoders, the MiDaS-small decoder, and models built by name."""

from edgedepth.models.efficientnet_lite import EfficientNetLite, list_encoders
from edgedepth.models.midas_small import MidasSmall, MidasSmallDecoder
from edgedepth.models.registry import ModelConfigError, create_model, list_models, register_model
from edgedepth.models.stereo_small import StereoSmall

__all__ = [
    "EfficientNetLite",
    "MidasSmall",
    "MidasSmallDecoder",
    "ModelConfigError",
    "StereoSmall",
    "create_model",
    "list_encoders",
    "list_models",
    "register_model",
]
