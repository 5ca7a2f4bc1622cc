"""Tests of edgedepth/data/ (tests/data/ holds the tests' data files): samples, Middlebury, procedural scenes."""
