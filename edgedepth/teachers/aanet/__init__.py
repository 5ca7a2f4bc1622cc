"""AANet and AANet+ in plain torch (deformable convolutions included): the network, the released
configurations and checkpoints, and the teacher."""

from edgedepth.teachers.aanet.model import AANET, AANET_PLUS, CONFIGS, AANet, AANetConfig
from edgedepth.teachers.aanet.teacher import AANetTeacher
from edgedepth.teachers.aanet.weights import load_official_checkpoint, official_state_dict

__all__ = [
    "AANET",
    "AANET_PLUS",
    "CONFIGS",
    "AANet",
    "AANetConfig",
    "AANetTeacher",
    "load_official_checkpoint",
    "official_state_dict",
]
