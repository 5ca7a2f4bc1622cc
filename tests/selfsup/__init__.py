"""Tests of edgedepth/selfsup/: the self-supervised objective's terms, hints, frames and command line."""
