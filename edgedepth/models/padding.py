"""TensorFlow "SAME" padding as constants, so exported graphs carry no run-time Shape/Pad arithmetic.

TF pads a stride-`s` convolution of an input of size `i` by
`max((ceil(i / s) - 1) * s + (k - 1) * d + 1 - i, 0)` in total, half (rounded down) before and the rest after.
When `i` is a multiple of `s` this no longer depends on `i`: it is `(k - 1) * d + 1 - s`, e.g. (0, 1) for a
3x3 and (1, 2) for a 5x5 stride-2 conv. edgedepth models require H and W to be multiples of their total
stride, so every strided convolution sees such an input and its padding is fixed when the model is built.
"""

from __future__ import annotations


def tf_same_pad(kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """(before, after) TF "SAME" padding of one axis, for inputs whose size is a multiple of `stride`."""
    total = max((kernel_size - 1) * dilation + 1 - stride, 0)
    return total // 2, total - total // 2


def conv_padding(kernel_size: int, stride: int = 1) -> tuple[int, tuple[int, int, int, int] | None]:
    """(nn.Conv2d padding, F.pad tuple or None): symmetric padding stays in the conv, else F.pad does it."""
    before, after = tf_same_pad(kernel_size, stride)
    if before == after:
        return before, None
    return 0, (before, after, before, after)
