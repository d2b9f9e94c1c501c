"""Retrieval metrics: Recall@K and MAP@R (each item querying all the others, cosine), zero-shot accuracy.

Queries whose class has no other member have nothing to retrieve; they are left out of the averages (as in
pytorch-metric-learning's AccuracyCalculator). All values are percentages.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

CHUNK = 1024  # queries per similarity block: 1024 x 8k floats = 32 MB


def _normalised(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if t.ndim != 2:
        raise ValueError(f"embeddings must be 2-D, got shape {tuple(t.shape)}")
    return torch.nn.functional.normalize(t, dim=1)


def _ranked_matches(emb, labels, depth: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(matches (n, depth) bool: is the j-th nearest other item of the query's class, positives per query)."""
    x = _normalised(emb)
    y = torch.as_tensor(np.asarray(labels)).long()
    n = x.shape[0]
    if y.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(y.shape)}")
    depth = max(0, min(depth, n - 1))
    _, inverse, counts = torch.unique(y, return_inverse=True, return_counts=True)
    positives = counts[inverse] - 1
    matches = torch.zeros((n, depth), dtype=torch.bool)
    for start in range(0, n, CHUNK):
        sim = x[start : start + CHUNK] @ x.T
        rows = torch.arange(sim.shape[0])
        sim[rows, rows + start] = -float("inf")  # the query itself is never a result
        idx = sim.topk(depth, dim=1).indices if depth else torch.zeros((sim.shape[0], 0), dtype=torch.long)
        matches[start : start + CHUNK] = y[idx] == y[start : start + CHUNK, None]
    return matches, positives


def _recalls(matches: torch.Tensor, positives: torch.Tensor, ks: Sequence[int]) -> dict[int, float]:
    hits = matches[positives > 0]
    if not len(hits):
        return {k: 0.0 for k in ks}
    return {k: 100.0 * hits[:, :k].any(dim=1).float().mean().item() for k in ks}


def _mean_ap_at_r(matches: torch.Tensor, positives: torch.Tensor) -> float:
    valid = positives > 0
    if not valid.any():
        return 0.0
    r = positives[valid].float()
    ranks = torch.arange(1, matches.shape[1] + 1, dtype=torch.float32)
    hits = matches[valid].float() * (ranks[None, :] <= r[:, None])  # only the first R results count
    precision = hits.cumsum(dim=1) / ranks
    return 100.0 * ((precision * hits).sum(dim=1) / r).mean().item()


def _max_positives(labels) -> int:
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return int(counts.max()) - 1 if len(counts) else 0


def singleton_classes(labels) -> list[int]:
    """Labels with a single item: R@K and MAP@R are undefined for their queries (left out of the averages)."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    return [int(v) for v, c in zip(values, counts, strict=True) if c == 1]


def recall_at_k(emb, labels, ks: Sequence[int] = (1, 2, 4, 8)) -> dict[int, float]:
    """Recall@K (%): share of queries with at least one same-class item among their K nearest other items."""
    return _recalls(*_ranked_matches(emb, labels, max(ks)), ks)


def map_at_r(emb, labels) -> float:
    """MAP@R (%): for a query with R other same-class items, the mean over i ≤ R of precision@i where the i-th
    result is a hit (Musgrave et al. 2020)."""
    return _mean_ap_at_r(*_ranked_matches(emb, labels, _max_positives(labels)))


def retrieval_metrics(emb, labels) -> dict[str, float]:
    """``{"R@1", "R@2", "R@4", "R@8", "MAP@R"}`` in percent, from one ranking pass."""
    ks = (1, 2, 4, 8)
    matches, positives = _ranked_matches(emb, labels, max(max(ks), _max_positives(labels)))
    out = {f"R@{k}": v for k, v in _recalls(matches, positives, ks).items()}
    out["MAP@R"] = _mean_ap_at_r(matches, positives)
    return out


def zero_shot_accuracy(image_emb, labels, class_emb) -> float:
    """Accuracy (%) of assigning each image to its most cosine-similar class embedding (row c = class c)."""
    x = _normalised(image_emb)
    c = _normalised(class_emb)
    y = torch.as_tensor(np.asarray(labels)).long()
    if len(y) == 0:
        return 0.0
    pred = torch.cat([(x[s : s + CHUNK] @ c.T).argmax(dim=1) for s in range(0, len(x), CHUNK)])
    return 100.0 * (pred == y).float().mean().item()
