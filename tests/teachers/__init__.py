"""Tests of edgedepth/teachers/: one file per teacher family, the registry and the output cache."""
