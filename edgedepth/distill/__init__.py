"""Distillation: the data it trains on, augmentation, the training loop."""
