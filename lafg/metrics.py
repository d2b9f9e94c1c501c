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


def recall_at_k(emb, labels, ks: Sequence[int] = (1, 2, 4, 8)) -> dict[int, float]:
    """Recall@K (%): share of queries with at least one same-class item among their K nearest other items."""
    matches, positives = _ranked_matches(emb, labels, max(ks))
    valid = positives > 0
    if not valid.any():
        return {k: 0.0 for k in ks}
    hits = matches[valid]
    return {k: 100.0 * hits[:, :k].any(dim=1).float().mean().item() for k in ks}


def map_at_r(emb, labels) -> float:
    """MAP@R (%): for each query with R other same-class items, mean over i ≤ R of precision@i at the hits."""
    labels_arr = np.asarray(labels)
    _, counts = np.unique(labels_arr, return_counts=True)
    matches, positives = _ranked_matches(emb, labels_arr, int(counts.max()) - 1 if len(counts) else 0)
    valid = positives > 0
    if not valid.any():
        return 0.0
    m = matches[valid].float()
    r = positives[valid].float()
    depth = m.shape[1]
    ranks = torch.arange(1, depth + 1, dtype=torch.float32)
    within_r = ranks[None, :] <= r[:, None]
    m = m * within_r
    precision = m.cumsum(dim=1) / ranks
    ap = (precision * m).sum(dim=1) / r
    return 100.0 * ap.mean().item()


def retrieval_metrics(emb, labels) -> dict[str, float]:
    """``{"R@1", "R@2", "R@4", "R@8", "MAP@R"}`` in percent."""
    out = {f"R@{k}": v for k, v in recall_at_k(emb, labels, (1, 2, 4, 8)).items()}
    out["MAP@R"] = map_at_r(emb, labels)
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
