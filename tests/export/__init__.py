"""Tests of export/: one file per format, the precision tables, stereo bundles, and adding a format."""
