"""Data-parallel training over processes (``torchrun``): one GPU (or CPU process) per rank, one global batch.

Launched as ``torchrun --nproc_per_node N -m lafg train ...``: every rank runs the same trainer, and
:mod:`lafg.training.loop` calls the hooks here at four points.

- **Batches**: every rank draws the *same* class-balanced global batch (the sampler is seeded by (seed, epoch))
  and takes its contiguous share of it (``local_batch``): with ``m`` images per class and a share that is a
  multiple of ``m``, each rank holds whole classes, so the batch stays class-balanced across ranks.
- **Loss**: the losses are batch-wise (pairwise cross-entropy, distribution alignment over the batch), so each
  rank's embeddings are gathered with a differentiable all-gather (``gather``) and every rank computes the loss
  of the whole global batch: the same number a single process computes.
- **Gradients**: the model and its loss run as one module (``lafg.training.loop.TrainStep``) wrapped in
  ``DistributedDataParallel`` (``wrap``): its backward averages every trained parameter's gradient over ranks,
  the loss's projectors included. With the all-gather's summed backward this gives exactly the single-process
  gradient of the global batch. DDP also starts every rank from rank 0's parameters.
- **Files**: rank 0 alone writes checkpoints, metrics and configs (``is_main``); every rank reads the same
  checkpoint on resume, so a resumed run continues identically.

Backend ``nccl`` on CUDA, ``gloo`` on CPU (what the test suite runs with 2 processes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from lafg.errors import InputError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0  # this process among all
    world: int = 1  # number of processes
    local_rank: int = 0  # this process on its machine (picks the GPU)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def context() -> DistContext:
    """The process group from ``torchrun``'s environment (initialised on first call); a single process
    without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def default_device(ctx: DistContext | None = None) -> str:
    """``cuda:<local rank>`` when CUDA is there (each rank its own GPU), else ``cpu``."""
    ctx = ctx or context()
    if torch.cuda.is_available():
        torch.cuda.set_device(ctx.local_rank)
        return f"cuda:{ctx.local_rank}"
    return "cpu"


def check_batch(batch_size: int, images_per_class: int, ctx: DistContext | None = None) -> None:
    """Refuse a global batch that does not split into whole classes per rank."""
    ctx = ctx or context()
    if not ctx.active:
        return
    share, rest = divmod(batch_size, ctx.world)
    if rest or share % images_per_class:
        raise InputError(
            f"a global batch of {batch_size // images_per_class} classes × {images_per_class} images does not split "
            f"into whole classes over {ctx.world} processes: use a number of processes that divides "
            f"{batch_size // images_per_class} (or set classes_per_batch to a multiple of {ctx.world})"
        )


def local_batch(inputs, idx: np.ndarray, generator: torch.Generator, ctx: DistContext | None = None) -> torch.Tensor:
    """This rank's share of the global batch ``idx`` (all of it in a single process).

    Cached inputs draw their views for the whole batch (the same draws a single process makes) and keep this
    rank's rows; image inputs draw one seed for the batch and augment this rank's images from ``seed + rank``.
    """
    ctx = ctx or context()
    if not ctx.active:
        return inputs.batch(idx, generator)
    share = len(idx) // ctx.world
    rows = slice(ctx.rank * share, (ctx.rank + 1) * share)
    if hasattr(inputs, "views"):  # CachedInputs
        return inputs.batch(idx, generator)[rows]
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    return inputs.batch(idx[rows], torch.Generator().manual_seed(seed + ctx.rank))


def gather(z: torch.Tensor, ctx: DistContext | None = None) -> torch.Tensor:
    """All ranks' embeddings in rank order (= global batch order), differentiable: the backward sums every
    rank's gradient into each rank's own rows."""
    ctx = ctx or context()
    if not ctx.active:
        return z
    from torch.distributed._functional_collectives import all_gather_tensor_autograd

    # torch's differentiable all-gather (torch.distributed.nn's is deprecated); backward = reduce-scatter (sum)
    return all_gather_tensor_autograd(z.contiguous(), gather_dim=0, group=dist.group.WORLD)


def wrap(step: torch.nn.Module, ctx: DistContext | None = None) -> torch.nn.Module:
    """``step`` in ``DistributedDataParallel`` under torchrun (itself in a single process).

    Batch-norm statistics are frozen in training (nothing to broadcast); some parameters get no gradient in
    some methods (e.g. the alignment projectors of ``aux``), hence ``find_unused_parameters``."""
    ctx = ctx or context()
    if not ctx.active:
        return step
    from torch.nn.parallel import DistributedDataParallel

    on_gpu = dist.get_backend() == "nccl"
    return DistributedDataParallel(
        step, device_ids=[ctx.local_rank] if on_gpu else None, broadcast_buffers=False, find_unused_parameters=True
    )


def barrier(ctx: DistContext | None = None) -> None:
    """Wait for every rank (e.g. until rank 0 has written the checkpoint)."""
    ctx = ctx or context()
    if ctx.active:
        dist.barrier()


def agreed(cancel, ctx: DistContext | None = None):
    """A cancel flag every rank answers the same (any rank asking to stop stops all: no rank left waiting in
    a collective); ``cancel`` itself in a single process."""
    ctx = ctx or context()
    if not ctx.active or cancel is None:
        return cancel

    def poll() -> bool:
        device = f"cuda:{ctx.local_rank}" if dist.get_backend() == "nccl" else "cpu"  # nccl reduces GPU tensors only
        flag = torch.tensor([1.0 if cancel() else 0.0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    return poll
