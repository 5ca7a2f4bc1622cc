"""Tests of edgedepth/distill/: losses, the training loop, objectives, resuming, several processes."""
