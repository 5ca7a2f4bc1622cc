"""RAFT-Stereo in plain torch: the network, its official configurations and checkpoints, and the teacher."""

from edgedepth.teachers.raft_stereo.adapter import RAFTStereoTeacher
from edgedepth.teachers.raft_stereo.model import CONFIGS, RAFTStereo, RAFTStereoConfig
from edgedepth.teachers.raft_stereo.weights import load_official_checkpoint, official_state_dict

__all__ = [
    "CONFIGS",
    "RAFTStereo",
    "RAFTStereoConfig",
    "RAFTStereoTeacher",
    "load_official_checkpoint",
    "official_state_dict",
]
