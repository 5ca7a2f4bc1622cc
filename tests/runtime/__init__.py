"""Tests of runtime/: the device kit (bundles, runners, preprocessing, metrics, predict, portrait, bench) and
its host tools (runtime/host/: reports, merging device rows)."""
