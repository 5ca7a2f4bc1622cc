"""Tests of edgedepth's top-level modules: checkpoints and progress reporting."""
