"""Tests of edgedepth/evaluation/: alignment by output kind, baseline rows and sanity numbers."""
