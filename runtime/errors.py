"""The user-facing errors of the device side: what the command lines print as one line and a non-zero exit."""


class BundleError(Exception):
    """A bundle that cannot be trusted, used or made as asked: a missing or corrupt manifest or file, a sha256
    mismatch, a refused overwrite, a request no registered method can meet."""


class OverwriteRefused(BundleError, FileExistsError):
    """The target exists and --force was not given."""


class RequestError(BundleError, ValueError):
    """A request no registered exporter, quantization method or runner can meet: an unknown name, a precision the
    format does not write, a bundle the method cannot start from."""


class BundleMismatch(BundleError, ValueError):
    """The model file disagrees with its manifest (input or output names, shapes, count)."""


class InputError(BundleError, ValueError):
    """An input a command cannot use: an unreadable or truncated image, a stereo pair of different sizes, a
    folder without images, an output that exists without --force."""


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, else its type's name: the part of a library's
    many-line message that a one-line error quotes."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def own_line(exc: BaseException, limit: int = 2000) -> str:
    """One of edgedepth's own errors as one line: its messages are written as one line, so a line break in one
    comes from a value it quotes (an image path with a newline) and is shown escaped, not cut there."""
    text = str(exc).strip().replace("\r", "\\r").replace("\n", "\\n")
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return text or type(exc).__name__


def one_line(exc: BaseException, limit: int = 1000) -> str:
    """`Type: the message`, its lines joined into one (cut at `limit` characters, with an ellipsis): a failure
    as a report row states it, whole (backends often put the useful part on the second line)."""
    text = " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    if len(text) > limit:
        text = text[:limit - 1].rstrip() + "…"
    return f"{type(exc).__name__}: {text}".rstrip(": ")


class ArtifactFailed(Exception):
    """An artifact edgedepth wrote fails its own check on its backend (it does not load, run or compare): the
    tool's failure, not the user's request, so the command lines exit 1 rather than 2."""
