"""A Core ML program evaluated without Core ML: the mlpackage's MIL program (read through coremltools' spec
classes, the model never compiled) run op by op in numpy, each op in the type the program declares (float16
values stored as float16, sums in float32, each result rounded once). Its numbers stand in for Core ML's where
Core ML cannot run; its speed means nothing. Imports neither torch nor edgedepth."""

from runtime.runners.coreml_mil.errors import MILError, UnsupportedOp
from runtime.runners.coreml_mil.package import MLPackageInterpreter, image_tensor
from runtime.runners.coreml_mil.program import MILProgram

__all__ = ["MILError", "MILProgram", "MLPackageInterpreter", "UnsupportedOp", "image_tensor"]
