"""One Runner per backend, chosen by name or bundle format from `runtime.runners.registry`."""
