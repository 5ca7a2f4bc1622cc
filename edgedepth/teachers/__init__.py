"""Teachers: an adapter per family, one interface, built by name: `create_teacher(spec, **kwargs)`."""

from edgedepth.teachers.base import KINDS, Prediction, Teacher
from edgedepth.teachers.raft_stereo import RAFTStereoTeacher
from edgedepth.teachers.registry import TeacherConfigError, create_teacher, list_teachers, register_teacher
from edgedepth.teachers.sgbm import SGBMTeacher

register_teacher("sgbm", SGBMTeacher)
register_teacher("raft_stereo", RAFTStereoTeacher, location="checkpoint")

__all__ = [
    "KINDS",
    "Prediction",
    "RAFTStereoTeacher",
    "SGBMTeacher",
    "Teacher",
    "TeacherConfigError",
    "create_teacher",
    "list_teachers",
    "register_teacher",
]
