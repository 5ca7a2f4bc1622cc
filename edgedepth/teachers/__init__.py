"""Teachers: an adapter per family, one interface, built by name: `create_teacher(spec, **kwargs)`."""

from edgedepth.teachers.aanet import AANetTeacher
from edgedepth.teachers.base import KINDS, Prediction, Teacher
from edgedepth.teachers.hf import HFDepthTeacher
from edgedepth.teachers.midas import MidasV21SmallTeacher
from edgedepth.teachers.monodepth2 import Monodepth2Teacher
from edgedepth.teachers.onnx_model import ONNXDepthTeacher
from edgedepth.teachers.raft_stereo import RAFTStereoTeacher
from edgedepth.teachers.registry import TeacherConfigError, create_teacher, list_teachers, register_teacher
from edgedepth.teachers.sgbm import SGBMTeacher

register_teacher("sgbm", SGBMTeacher)
register_teacher("raft_stereo", RAFTStereoTeacher, location="checkpoint")
register_teacher("onnx", ONNXDepthTeacher, location="path")
register_teacher("midas_v21_small", MidasV21SmallTeacher, location="checkpoint")
register_teacher("hf", HFDepthTeacher, location="path")
register_teacher("monodepth2", Monodepth2Teacher, location="path")
register_teacher("aanet", AANetTeacher, location="checkpoint")

__all__ = [
    "KINDS",
    "HFDepthTeacher",
    "MidasV21SmallTeacher",
    "Monodepth2Teacher",
    "ONNXDepthTeacher",
    "Prediction",
    "RAFTStereoTeacher",
    "SGBMTeacher",
    "Teacher",
    "TeacherConfigError",
    "create_teacher",
    "list_teachers",
    "register_teacher",
]
