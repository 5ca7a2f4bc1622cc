"""What the torch stereo-network teachers (RAFT-Stereo, AANet) keep alike: their run settings and the seeded
construction of the network, so an untrained (random_init) teacher is the same for a given seed."""

from __future__ import annotations

from collections.abc import Callable

import torch

from edgedepth.teachers.base import Teacher


class StereoNetworkTeacher(Teacher):
    """A stereo network teacher: an official checkpoint or seeded random weights, input padded to `pad_to`, the
    border band whose match leaves the right view masked unless `mask_border` is off."""

    def _keep_settings(self, checkpoint: object, config: str, threads: int | None, random_init: bool, seed: int,
                       pad_to: int, mask_border: bool, build: Callable[[], torch.nn.Module]) -> None:
        """Record the settings `params()` reports and build the network under `seed` (global RNG untouched)."""
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.config = config
        self.threads = threads
        self.random_init = random_init
        self.seed = seed
        self.pad_to = pad_to
        self.mask_border = mask_border
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = build()
        self.checkpoint_sha256: str | None = None
