"""Search index: faiss exact inner product over L2-normalised embeddings (= cosine), saved without pickle."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from lafg.errors import InputError

FORMAT = "lafg-index-v1"
ADD_CHUNK = 4096  # vectors per add() call in build_index, so progress moves on large sets


def _as_unit_rows(x: np.ndarray, dim: int) -> np.ndarray:
    x = np.array(x, dtype=np.float32, copy=True, ndmin=2)
    if x.ndim != 2 or x.shape[1] != dim:
        raise InputError(f"expected vectors of dimension {dim}, got shape {x.shape}")
    faiss.normalize_L2(x)
    return x


class EmbeddingIndex:
    """Cosine search over embeddings with integer ids (faiss ``IndexIDMap2`` over ``IndexFlatIP``)."""

    def __init__(self, dim: int, _index: faiss.Index | None = None):
        self.dim = int(dim)
        self.index = _index if _index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, emb: np.ndarray, ids: np.ndarray | None = None) -> None:
        """Add rows of ``emb`` (normalised here) under ``ids`` (default: continuing 0, 1, 2, ...)."""
        x = _as_unit_rows(emb, self.dim)
        if ids is None:
            ids = np.arange(len(self), len(self) + len(x))
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) != len(x):
            raise InputError(f"{len(x)} vectors but {len(ids)} ids")
        self.index.add_with_ids(x, ids)

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)``, each ``(n_queries, k)``: cosine similarity, best first; ids -1 past the end."""
        x = _as_unit_rows(q, self.dim)
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        scores, ids = self.index.search(x, int(k))
        return scores, ids

    def save(self, path: str | Path) -> None:
        """Write the faiss index to ``path`` and a JSON sidecar ``path + '.json'`` (no pickle anywhere)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(path))
        meta = {"format": FORMAT, "dim": self.dim, "count": len(self), "metric": "cosine"}
        _sidecar(path).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> EmbeddingIndex:
        """Read an index written by :meth:`save`, checking it against its sidecar."""
        path = Path(path)
        if not path.is_file() or not _sidecar(path).is_file():
            raise InputError(f"index not found (need {path} and {_sidecar(path).name})")
        meta = json.loads(_sidecar(path).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise InputError(f"{path} is not a {FORMAT} index")
        index = faiss.read_index(str(path))
        if index.d != meta["dim"] or index.ntotal != meta["count"]:
            raise InputError(f"{path} does not match its sidecar (dim/count differ)")
        return cls(meta["dim"], _index=index)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def build_index(
    emb: np.ndarray, progress: Callable[[int, int, str], None] | None = None, ids: np.ndarray | None = None
) -> EmbeddingIndex:
    """An :class:`EmbeddingIndex` over the rows of ``emb`` (ids = row numbers unless given)."""
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim != 2:
        raise InputError(f"embeddings must be 2-D, got shape {emb.shape}")
    ids = np.arange(len(emb)) if ids is None else np.asarray(ids, dtype=np.int64)
    index = EmbeddingIndex(emb.shape[1])
    for start in range(0, len(emb), ADD_CHUNK):
        index.add(emb[start : start + ADD_CHUNK], ids[start : start + ADD_CHUNK])
        if progress:
            progress(min(start + ADD_CHUNK, len(emb)), len(emb), "indexing embeddings")
    return index
