"""Training a student: the objectives it can learn by (`objectives/`), the one training path (`train.train`), the
data it trains on, augmentation and the optimisation loop."""
