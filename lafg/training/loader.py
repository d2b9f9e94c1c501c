"""Loader workers for ``full`` training: decode and augment the next batches in worker processes while the
current one trains (a GPU would otherwise wait for JPEG decoding in the training loop's thread).

The batches of an epoch are known in advance (the sampler draws them from (seed, epoch)), and an image batch
consumes exactly one draw of the epoch's generator (:func:`lafg.training.distributed.local_batch`). So the plan records,
per batch, the generator's state before its draw; a worker restores it and builds the same tensor the loop
would have built itself: results do not depend on the number of workers, and a resumed run stays identical.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from lafg.training import distributed

ENV = "LAFG_LOADER_WORKERS"
MAX_WORKERS = 8


def loader_workers(device: str) -> int:
    """``LAFG_LOADER_WORKERS`` when set; else on CUDA the free CPUs minus one (at most 8); 0 on CPU, where
    workers would only compete with the model for the same cores."""
    raw = os.environ.get(ENV, "").strip()
    if raw.isdigit():
        return int(raw)
    if not str(device).startswith("cuda"):
        return 0
    from lafg.threads import available_cpus

    return max(0, min(MAX_WORKERS, available_cpus() - 1))


class _PlannedBatches(Dataset):
    def __init__(self, inputs, plan: list[tuple[np.ndarray, torch.Tensor]], ctx: distributed.DistContext):
        self.inputs, self.plan, self.ctx = inputs, plan, ctx

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, b: int) -> torch.Tensor:
        idx, state = self.plan[b]
        generator = torch.Generator()
        generator.set_state(state)
        return distributed.local_batch(self.inputs, idx, generator, self.ctx)


def prefetch(inputs, batches: list[np.ndarray], generator: torch.Generator, device: str, workers: int | None = None) -> Iterator[torch.Tensor] | None:
    """Ready batches of ``inputs`` for ``batches`` (this rank's share), built by worker processes; None when
    there is nothing to gain (cached inputs, or no workers). Advances ``generator`` as the loop itself would."""
    workers = loader_workers(device) if workers is None else int(workers)
    if workers <= 0 or hasattr(inputs, "views") or not batches:  # cached inputs are already in memory
        return None
    ctx = distributed.context()
    plan = []
    for idx in batches:
        plan.append((idx, generator.get_state()))
        torch.randint(2**31 - 1, (1,), generator=generator)  # the one draw local_batch makes per image batch
    loader = DataLoader(
        _PlannedBatches(inputs, plan, ctx), batch_size=None, shuffle=False, num_workers=workers,
        pin_memory=str(device).startswith("cuda"), prefetch_factor=2,
    )
    return iter(loader)
