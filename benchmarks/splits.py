"""The group-wise validation split used to choose hyperparameters (benchmarks only).

Seen classes are split by *group* (car make = first word of the name, bird group = last word), whole groups held
out together, so validation classes share no make / genus with the training classes. The unseen classes are
never touched: :mod:`benchmarks.validate` trains on the training groups and scores on the held-out ones,
:mod:`benchmarks.grounding` picks its ridge penalty on the held-out genera.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def car_make(name: str) -> str:
    """Group of a Stanford Cars class: its make, the first word ("AM General" stays "AM")."""
    return name.split()[0]


def bird_group(name: str) -> str:
    """Rough genus / family of a CUB class: the last word ("Black footed Albatross" → "Albatross")."""
    return name.split()[-1]


GROUPS: dict[str, Callable[[str], str]] = {"cars196": car_make, "cub100": bird_group}  # set name → its grouping


def group_validation_split(
    names: list[str], group: Callable[[str], str], fraction: float = 0.3, seed: int = 0
) -> tuple[list[int], list[int]]:
    """(train, validation) class indices into ``names``: whole groups, in a seeded random order, are moved to
    validation until it holds at least ``fraction`` of the classes."""
    groups: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        groups.setdefault(group(n), []).append(i)
    order = sorted(groups)
    np.random.default_rng(seed).shuffle(order)
    val: list[int] = []
    for g in order:
        if len(val) >= fraction * len(names):
            break
        val.extend(groups[g])
    held = set(val)
    return [i for i in range(len(names)) if i not in held], sorted(val)


def seen_class_split(
    classes: list[str], seen: list[int], group: Callable[[str], str], fraction: float = 0.3, seed: int = 0
) -> tuple[list[int], list[int]]:
    """:func:`group_validation_split` of the seen classes, as class ids: (training ids, held-out ids), both
    indices into ``classes`` (:attr:`lafg.vision.data.ImageSet.classes`; ``seen`` = :attr:`lafg.vision.data.ImageSet.seen`),
    ready for :func:`benchmarks.ladder.load_set`'s ``train_ids`` / ``eval_ids``."""
    seen_ids = sorted(seen)
    train_idx, val_idx = group_validation_split([classes[c] for c in seen_ids], group, fraction, seed)
    return [seen_ids[i] for i in train_idx], [seen_ids[i] for i in val_idx]
