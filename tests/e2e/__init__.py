"""Whole command-line chains: the demo and every verb in turn, mono and stereo."""
