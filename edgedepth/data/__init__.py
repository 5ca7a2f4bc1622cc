"""Data: one stereo sample type, the embedded datasets (procedural scenes, Middlebury motorcycle), by name."""

from edgedepth.data.images import ImageFolder, read_photo
from edgedepth.data.middlebury import MOTORCYCLE_CALIBRATION, load_motorcycle
from edgedepth.data.procedural import make_scene, make_scenes, scene_seed
from edgedepth.data.registry import DatasetError, get_dataset, list_datasets
from edgedepth.data.sample import Calibration, StereoSample
from runtime.images import list_images

__all__ = [
    "MOTORCYCLE_CALIBRATION",
    "Calibration",
    "DatasetError",
    "ImageFolder",
    "StereoSample",
    "get_dataset",
    "list_datasets",
    "list_images",
    "load_motorcycle",
    "make_scene",
    "make_scenes",
    "read_photo",
    "scene_seed",
]
