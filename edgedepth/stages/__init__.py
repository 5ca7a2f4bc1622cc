"""The stages a run chains after distillation: export (bundles from a checkpoint) and measure (one pass over the
checkpoint, its teacher and its bundles, giving the report). Each reads the previous stage's files, so each also
runs alone from the CLI."""
