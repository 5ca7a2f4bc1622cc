"""Data: one stereo sample type, the embedded datasets (procedural scenes, Middlebury motorcycle), by name."""

from edgedepth.data.images import ImageFolder, list_images, read_image
from edgedepth.data.middlebury import MOTORCYCLE_CALIBRATION, load_motorcycle
from edgedepth.data.procedural import make_scene, make_scenes, scene_seed
from edgedepth.data.registry import DatasetError, get_dataset, list_datasets
from edgedepth.data.sample import Calibration, StereoSample

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
    "read_image",
    "scene_seed",
]
