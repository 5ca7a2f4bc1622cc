"""Data: one stereo sample type, the embedded datasets (procedural scenes, Middlebury motorcycle), by name."""

from edgedepth.data.middlebury import MOTORCYCLE_CALIBRATION, load_motorcycle
from edgedepth.data.procedural import make_scene, make_scenes, scene_seed
from edgedepth.data.registry import DatasetError, get_dataset, list_datasets
from edgedepth.data.sample import Calibration, StereoSample

__all__ = [
    "MOTORCYCLE_CALIBRATION",
    "Calibration",
    "DatasetError",
    "StereoSample",
    "get_dataset",
    "list_datasets",
    "load_motorcycle",
    "make_scene",
    "make_scenes",
    "scene_seed",
]
