"""Errors that the CLI reports as one line and a non-zero exit, never as a traceback."""


class EdgeDepthError(Exception):
    """A user-facing failure: bad input, a missing or corrupt file, a refused overwrite."""


class ConfigError(EdgeDepthError, ValueError):
    """A request the code cannot run as configured: an unknown name, a bad keyword, a combination that does not
    fit (a stereo model for a mono task). A ValueError too, for callers that use the library directly."""
