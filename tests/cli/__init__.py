"""Tests of edgedepth/cli.py: help, one-line errors, recipes on the command line."""
