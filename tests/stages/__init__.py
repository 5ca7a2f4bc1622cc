"""Tests of edgedepth/stages/: the verbs' implementations (export many, the measuring pass, label, profile)."""
