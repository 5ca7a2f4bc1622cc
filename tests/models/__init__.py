"""Tests of edgedepth/models/: the students and their encoders."""
