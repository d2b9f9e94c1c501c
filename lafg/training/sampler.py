"""Class-balanced batches: N classes × m images each, reproducible from (seed, epoch) so a resumed run draws
exactly the batches the uninterrupted run would have drawn."""

from __future__ import annotations

import numpy as np


class ClassBalancedSampler:
    """``batches(epoch) -> list[np.ndarray]`` of indices into ``labels``.

    Each batch holds ``n_classes`` distinct classes (all of them if there are fewer) and ``m`` images of each
    (drawn with replacement only when a class has fewer than ``m``). An epoch has ``len(labels) // (N·m)``
    batches (at least one).
    """

    def __init__(self, labels: np.ndarray, n_classes: int = 64, m: int = 2, seed: int = 0):
        self.labels = np.asarray(labels)
        self.classes = np.unique(self.labels)
        self.by_class = {c: np.flatnonzero(self.labels == c) for c in self.classes}
        self.n_classes = min(n_classes, len(self.classes))
        self.m = m
        self.seed = seed

    def __len__(self) -> int:
        return max(1, len(self.labels) // (self.n_classes * self.m))

    def batches(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        out = []
        for _ in range(len(self)):
            chosen = rng.choice(self.classes, size=self.n_classes, replace=False)
            parts = []
            for c in chosen:
                members = self.by_class[c]
                parts.append(rng.choice(members, size=self.m, replace=len(members) < self.m))
            out.append(np.concatenate(parts))
        return out
