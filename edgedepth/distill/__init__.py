"""Training a student: the objectives it can learn by (`objectives/`), the one training path (`train.train`), the
data it trains on, augmentation, the distillation losses (`losses`), the optimisation loop, and the learning
curve drawn beside the checkpoint (`monitor`, `learning_curve`)."""
