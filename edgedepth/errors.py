"""Errors that the CLI reports as one line and a non-zero exit, never as a traceback."""


class EdgeDepthError(Exception):
    """A user-facing failure: bad input, a missing or corrupt file, a refused overwrite."""
