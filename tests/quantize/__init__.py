"""Tests of quantize/: the quantization methods and the rule for degenerate activation ranges."""
