"""The L_ali readings behind one interface: ``reading(z, labels, model) -> scalar``, built once per run.

Each reading holds the class prototypes (and, where it needs them, the vocabulary centroids) as buffers and
says which of the model's projectors its gradient reaches (:attr:`Reading.trains`), so a checkpoint can record
what was trained and explanations can read only trained parts (:mod:`lafg.retrieval.attribute_space`).

| reading | loss (one file each) | trains |
|---|---|---|
| ``meankl`` | :class:`~lafg.training.losses.alignment.MeanProjectorKLLoss` on P_v ẑ, P_t T against the mean projectors | P_v, P_t |
| ``symkl`` | :class:`~lafg.training.losses.alignment.SymmetricKLLoss` on P_v ẑ, P_t T | P_v, P_t |
| ``relational`` | :class:`~lafg.training.losses.relational.RelationalKLLoss` on ẑ and T (no projector) | — |
| ``attribute`` | :class:`~lafg.training.losses.attribute.AttributeDistributionLoss`: P_v ẑ predicts softmax(T·a/τ_t) | P_v |
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lafg.errors import InputError
from lafg.training.losses.alignment import MeanProjectorKLLoss, SymmetricKLLoss
from lafg.training.losses.attribute import AttributeDistributionLoss, atom_logits
from lafg.training.losses.relational import RelationalKLLoss


class Reading(nn.Module):
    """Base: prototypes (C, d_t) and centroids (N, d_t) as buffers; ``forward(z, labels, model)``."""

    name = ""
    trains: frozenset[str] = frozenset()  # projectors the gradient reaches: subset of {"proj_v", "proj_t"}
    needs_centroids = False

    def __init__(self, prototypes, centroids=None, tau_align: float = 0.2, tau_proto: float = 0.2):
        super().__init__()
        if self.needs_centroids and centroids is None:
            raise InputError(f"the {self.name} reading of L_ali needs the vocabulary centroids")
        self.tau_align, self.tau_proto = tau_align, tau_proto
        self.register_buffer("prototypes", _tensor(prototypes))
        self.register_buffer("centroids", _tensor(centroids))

    def forward(self, z: torch.Tensor, labels: torch.Tensor, model) -> torch.Tensor:
        raise NotImplementedError


class MeanKL(Reading):
    name, trains = "meankl", frozenset({"proj_v", "proj_t"})

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.loss = MeanProjectorKLLoss()

    def forward(self, z, labels, model):
        t, tau = self.prototypes[labels], self.tau_align
        v, p = model.project_image(z) / tau, model.project_text(t) / tau
        return self.loss(v, p, model.project_image(z, mean=True) / tau, model.project_text(t, mean=True) / tau)


class SymKL(Reading):
    name, trains = "symkl", frozenset({"proj_v", "proj_t"})

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.loss = SymmetricKLLoss()

    def forward(self, z, labels, model):
        t, tau = self.prototypes[labels], self.tau_align
        return self.loss(model.project_image(z) / tau, model.project_text(t) / tau)


class Relational(Reading):
    name = "relational"

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.loss = RelationalKLLoss(self.tau_align, self.tau_proto)

    def forward(self, z, labels, model):
        return self.loss(z, labels, self.prototypes)


class Attribute(Reading):
    name, trains, needs_centroids = "attribute", frozenset({"proj_v"}), True

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.loss = AttributeDistributionLoss()

    def forward(self, z, labels, model):
        target = atom_logits(self.prototypes, self.centroids, self.tau_proto)[labels]
        return self.loss(model.project_image(z) / self.tau_align, target)


READINGS: dict[str, type[Reading]] = {r.name: r for r in (MeanKL, SymKL, Relational, Attribute)}


def list_readings() -> list[str]:
    return list(READINGS)


def get_reading(name: str) -> type[Reading]:
    try:
        return READINGS[name]
    except KeyError as exc:
        raise InputError(f"unknown L_ali reading {name!r}; choose one of: {', '.join(READINGS)}") from exc


def create_reading(
    name: str, prototypes, centroids=None, tau_align: float = 0.2, tau_proto: float = 0.2
) -> Reading:
    """The reading ``name`` over these prototypes (rows indexed by the labels it will see)."""
    return get_reading(name)(prototypes, centroids, tau_align, tau_proto)


def _tensor(x) -> torch.Tensor:
    return torch.zeros(0) if x is None else torch.as_tensor(np.asarray(x), dtype=torch.float32)
