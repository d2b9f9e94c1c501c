"""Run by tests/training/test_distributed.py under ``torchrun`` (and in-process): a tiny head-mode training on synthetic
data, writing every step's loss terms, plus an interrupted-and-resumed copy of the same run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from lafg.training.inputs import CachedInputs
from lafg.training.loop import TrainConfig, train

N_CLASSES, PER_CLASS, DIM, TEXT_DIM, N_ATOMS = 8, 10, 32, 16, 12


def synthetic():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(N_CLASSES, DIM))
    labels = np.repeat(np.arange(N_CLASSES), PER_CLASS)
    views = centres[labels][None] + 0.5 * rng.normal(size=(2, len(labels), DIM))  # 2 cached views
    prototypes = rng.normal(size=(N_CLASSES, TEXT_DIM)).astype(np.float32)
    centroids = rng.normal(size=(N_ATOMS, TEXT_DIM)).astype(np.float32)
    return views.astype(np.float32), labels, prototypes, centroids


def run(out: Path, epochs: int, resume: bool = False, stop_at_poll: int | None = None) -> tuple[list, dict]:
    views, labels, prototypes, centroids = synthetic()
    cfg = TrainConfig(method="lafg", epochs=epochs, lr=1e-2, classes_per_batch=4, images_per_class=2, embed_dim=16)
    steps: list[dict] = []
    polls = iter(range(10**6))  # cancel() is polled at the same steps on every rank: stop them together
    cancel = None if stop_at_poll is None else (lambda: next(polls) >= stop_at_poll)
    result = train(
        cfg, CachedInputs(views), labels, out, in_dim=DIM, prototypes=prototypes, centroids=centroids,
        progress=lambda e: steps.append({"step": e.step, **e.terms}), resume=resume, device="cpu", cancel=cancel,
    )
    state = {k: v.tolist() for k, v in result.model.state_dict().items() if v.dtype.is_floating_point}
    return steps, state


def main(root: str) -> None:
    torch.set_num_threads(1)
    root = Path(root)
    steps, state = run(root / "full", epochs=3)
    run(root / "resumed", epochs=3, stop_at_poll=4)  # polls at steps 0, 5 of each epoch: stops after epoch 2
    resumed_steps, resumed_state = run(root / "resumed", epochs=3, resume=True)
    import torch.distributed as dist

    rank = dist.get_rank() if dist.is_initialized() else 0
    (root / f"rank{rank}.json").write_text(
        json.dumps({"steps": steps, "state": state, "resumed_steps": resumed_steps, "resumed_state": resumed_state})
    )


if __name__ == "__main__":
    main(sys.argv[1])
