"""Search index: cosine (inner product over L2-normalised rows) with faiss, exact or approximate, saved without
pickle and reloaded memory-mapped.

An index is described by a small :class:`IndexSpec` (``kind`` + a few knobs) turned into a faiss factory
string. ``kind="auto"`` picks by gallery size: exact ``flat`` below :data:`AUTO_FLAT_MAX` rows (a query costs
~16 ms at 100k × 512 on one thread), ``ivf-sq8`` up to :data:`AUTO_SQ8_MAX` (8-bit codes: 4× smaller than
float32, inverted lists so a query visits a few percent of the rows), ``ivf-pq-rerank`` past that. With a
``max_ram`` budget ``auto`` takes the first of flat (up to :data:`AUTO_FLAT_MAX` rows), ivf-sq8 and ivf-pq-rerank
whose resident bytes (:func:`resident_bytes`) fit, and refuses when none does.

``ivf-pq-rerank`` is the kind for galleries past RAM (the clip-retrieval / autofaiss recipe): an OPQ rotation,
inverted lists and 8-bit PQ codes (at most ~100 bytes per vector with the ids) find a few hundred candidates,
which are re-scored exactly against the fp16 vectors in a memory-mapped ``.npy`` next to the index, so RAM
holds codes and centroids only and the recall is that of the candidate list, not of the codes. ``ivf-pq``
(4-bit codes, no re-ranking) stays for comparison: its codes alone find a third of the true top 10 on the
scale benchmark's hard mixture. Approximate indexes are trained on a random sample and *calibrated*: the smallest ``nprobe`` /
``efSearch`` whose recall@10 against exact search on sample queries reaches ``target_recall`` is stored with the
index. Every index keeps integer ids (``IndexIDMap2`` around the factory index; ``ivf-pq-rerank`` stores row
numbers in its lists and the ids in a memory-mapped ``.ids.npy``, sparing the id map's ~48 bytes per vector).

:class:`FeatureStore` keeps a gallery's feature matrix and its indexes in one folder, keyed by a fingerprint of
the image files, so a restarted process reloads them in seconds instead of re-embedding.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import faiss
import numpy as np

from lafg.errors import InputError
from lafg.store.atomic import atomic_path, atomic_write_text
from lafg.store.cache import content_key

FORMAT = "lafg-index-v2"
OLD_FORMATS = ("lafg-index-v1",)
ADD_CHUNK = 16384  # vectors per add() call, so progress moves on large sets
RERANK = "ivf-pq-rerank"
KINDS = ("auto", "flat", "flat-fp16", "hnsw", "ivf-sq8", "ivf-pq", RERANK)
AUTO_FLAT_MAX = 100_000  # exact search stays under ~20 ms per query up to here
AUTO_SQ8_MAX = 4_000_000  # 8-bit codes: 4 GB at 4M × 1024-d; past that compressed codes + re-ranking
TRAIN_SAMPLE = 40  # training points per inverted list (faiss warns under 39)
PQ_TRAIN = 65_536  # training points for the OPQ rotation and the PQ codebooks (faiss's own cap for OPQ)
CALIBRATION_QUERIES = 200
OPQ_ITERATIONS = 10  # faiss's default 50 (+40 k-means rounds at the start) costs minutes per build on 2 cores;
# the rotation's objective flattens within ~10 rounds
RERANK_NLIST_MAX = 2048  # every added vector is compared with every list centre: 2048 keeps a 10M build to ~2e13
# flops, and the query's longer lists cost less than the re-ranking reads
RERANK_CODE_MAX = 88  # PQ bytes per vector of ivf-pq-rerank: with the 8-byte id ≤ 96 bytes resident
RERANK_MIN_ROWS = 1000  # below this an exact search is cheaper than any compressed one
RERANK_GRID = (50, 100, 200, 400, 800, 1600, 3200)  # candidates re-scored per query, calibrated on this grid
ID_BYTES = 8  # an int64 id per vector in faiss's inverted lists / id maps
IDMAP2_BYTES = 48  # IndexIDMap2's id array (8 B) and reverse hash map (libstdc++ node, bucket, malloc): an estimate
Progress = Callable[[int, int, str], None]


@dataclass
class IndexSpec:
    """What index to build; ``auto`` resolves from the number of rows (see the module docstring)."""

    kind: str = "auto"  # auto | flat | flat-fp16 | hnsw | ivf-sq8 | ivf-pq | ivf-pq-rerank
    nlist: int = 0  # inverted lists for ivf-* (0: about √n, a power of two)
    pq_bytes: int = 0  # PQ bytes per vector: ivf-pq 2 × 4-bit sub-vectors per byte (0: d/4, at least 4);
    # ivf-pq-rerank one 8-bit sub-vector per byte (0: the largest divisor of d up to RERANK_CODE_MAX)
    hnsw_m: int = 32  # graph degree for hnsw
    target_recall: float = 0.95  # calibrate nprobe / efSearch to reach this recall@10 on sample queries
    nprobe: int = 0  # lists visited per query (0: calibrated)
    ef_search: int = 0  # hnsw search breadth (0: calibrated)
    seed: int = 0  # training sample and calibration queries
    rerank: int = 0  # ivf-pq-rerank: candidates re-scored exactly per query (0: calibrated)
    max_ram: int = 0  # bytes the loaded index may keep resident (0: no budget); see resident_bytes()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"unknown index kind {self.kind!r}; choose one of: {', '.join(KINDS)}")
        if not 0.0 < self.target_recall <= 1.0:
            raise InputError(f"target_recall must be in (0, 1], got {self.target_recall}")
        if self.max_ram < 0 or self.rerank < 0:
            raise InputError("max_ram and rerank must be positive (0: none / calibrated)")

    def resolve(self, n: int, dim: int) -> IndexSpec:
        """A copy with ``kind`` and the sizes fixed for ``n`` rows of dimension ``dim``; refuses a ``max_ram``
        budget the kind (or, for ``auto``, every kind) cannot meet."""
        kind = self.kind if self.kind != "auto" else _auto_kind(self, n, dim)
        pq = self.pq_bytes or (_rerank_bytes(dim) if kind == RERANK else max(4, dim // 4))
        if kind == "ivf-pq":
            while pq > 1 and dim % (2 * pq):  # PQ needs the dimension to split evenly into 2·pq sub-vectors
                pq -= 1
        if kind == RERANK and dim % pq:
            raise InputError(f"{RERANK}: pq_bytes {pq} must divide the dimension {dim}")
        nlist = self.nlist or (min(RERANK_NLIST_MAX, _default_nlist(n)) if kind == RERANK else _default_nlist(n))
        out = replace(self, kind=kind, nlist=nlist, pq_bytes=pq)
        if self.max_ram and resident_bytes(out, n, dim) > self.max_ram:
            raise InputError(_over_budget(out, n, dim))
        return out

    def factory(self, dim: int) -> str:
        """The faiss ``index_factory`` string of a resolved spec."""
        return {
            "flat": "Flat",
            "flat-fp16": "SQfp16",
            "hnsw": f"HNSW{self.hnsw_m},Flat",
            "ivf-sq8": f"IVF{self.nlist},SQ8",
            # 4-bit fast-scan codes (SIMD lookups; trains in seconds where 8-bit polysemous PQ takes minutes)
            "ivf-pq": f"IVF{self.nlist},PQ{2 * self.pq_bytes}x4fsr",
            # OPQ rotates so each 8-bit sub-quantiser gets a fair share of the variance; np: no polysemous training
            RERANK: f"OPQ{self.pq_bytes},IVF{self.nlist},PQ{self.pq_bytes}np",
        }[self.kind]


def resident_bytes(spec: IndexSpec, n: int, dim: int) -> int:
    """Bytes a loaded index of a resolved ``spec`` keeps in RAM for ``n`` rows of dimension ``dim``: codes, ids
    and the quantisers' centroids. ``ivf-pq-rerank``'s fp16 vectors are on disk (memory-mapped, read per query),
    so they do not count; the other kinds' codes are memory-mapped too but every query reads them all (flat) or
    a fixed share, so they count in full."""
    per_row = {
        "flat": 4 * dim + IDMAP2_BYTES, "flat-fp16": 2 * dim + IDMAP2_BYTES,
        "hnsw": 4 * dim + 8 * spec.hnsw_m + IDMAP2_BYTES,
        "ivf-sq8": dim + ID_BYTES + IDMAP2_BYTES, "ivf-pq": spec.pq_bytes + ID_BYTES + IDMAP2_BYTES,
        RERANK: spec.pq_bytes + ID_BYTES,
    }[spec.kind]
    fixed = 4 * dim * spec.nlist if spec.kind.startswith("ivf") else 0  # coarse centroids
    if spec.kind == RERANK:
        fixed += 4 * dim * dim + 4 * 256 * dim  # OPQ rotation, PQ codebooks
    return int(n * per_row + fixed)


def _auto_kind(spec: IndexSpec, n: int, dim: int) -> str:
    """Without a budget: by size. With one: the first of flat (small galleries), ivf-sq8, ivf-pq-rerank that fits
    (sized with the spec's own knobs)."""
    if not spec.max_ram:
        return "flat" if n <= AUTO_FLAT_MAX else ("ivf-sq8" if n <= AUTO_SQ8_MAX else RERANK)
    for kind in ("flat", "ivf-sq8", RERANK):
        if kind == "flat" and n > AUTO_FLAT_MAX:
            continue
        candidate = replace(spec, kind=kind, max_ram=0).resolve(n, dim)
        if resident_bytes(candidate, n, dim) <= spec.max_ram:
            return kind
    return RERANK  # fits nothing: resolve() refuses with the smallest kind's size


def _over_budget(spec: IndexSpec, n: int, dim: int) -> str:
    need = resident_bytes(spec, n, dim)
    smallest = resident_bytes(IndexSpec(RERANK).resolve(n, dim), n, dim)
    hint = (f"the smallest kind, {RERANK}, needs {_mb(smallest)}: raise the budget or index fewer rows"
            if smallest > spec.max_ram else f"{RERANK} needs {_mb(smallest)} (fp16 vectors on disk)")
    return (f"a {spec.kind} index of {n:,} × {dim} keeps {_mb(need)} in RAM, over the budget of "
            f"{_mb(spec.max_ram)}; {hint}")


def _mb(b: int) -> str:
    return f"{b / 2**20:,.1f} MiB"


def parse_bytes(text: str | int) -> int:
    """``"512M"``, ``"2G"``, ``"1.5GB"``, ``"800000"`` → bytes (binary units); a clear error otherwise."""
    t = str(text).strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if scale > 1 else t)
    except ValueError:
        raise InputError(f"a memory size is a number with an optional K/M/G unit (e.g. 2G), got {text!r}") from None
    if value <= 0:
        raise InputError(f"a memory budget must be positive, got {text!r}")
    return int(value * scale)


def _rerank_bytes(dim: int) -> int:
    """PQ bytes of ivf-pq-rerank: the largest divisor of ``dim`` up to RERANK_CODE_MAX (one 8-bit code each)."""
    return max(m for m in range(1, min(dim, RERANK_CODE_MAX) + 1) if dim % m == 0)


def _default_nlist(n: int) -> int:
    """About √n lists (a power of two; ~1000 rows each, k-means on a 1M set trains in seconds), fewer when the
    rows could not train them."""
    if n < 2:
        return 1
    nlist = 2 ** int(round(math.log2(math.sqrt(n))))
    return int(max(1, min(nlist, n // 39)))


def unit_rows(x: np.ndarray, dim: int | None = None) -> np.ndarray:
    """A float32 copy of ``x`` (2-D) with L2-normalised rows (zero rows stay zero)."""
    x = np.array(x, dtype=np.float32, copy=True, ndmin=2)
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim):
        raise InputError(f"expected vectors of dimension {dim}, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


class EmbeddingIndex:
    """Cosine search over embeddings with integer ids (faiss ``IndexIDMap2`` around a factory index).

    ``search`` is thread-safe (faiss searches do not modify the index), so many visitors can query at once.
    """

    def __init__(self, dim: int, _index: faiss.Index | None = None, spec: IndexSpec | None = None):
        self.dim = int(dim)
        self.spec = spec or IndexSpec("flat")
        self.index = _index if _index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self.recall: float | None = None  # recall@10 the calibration measured (approximate kinds)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def nbytes(self) -> int:
        """Approximate memory of the stored codes, ids and centroids (what a memory cap should count)."""
        return resident_bytes(self.spec, len(self), self.dim)

    def vector(self, row: int) -> np.ndarray:
        """The stored vector of gallery row ``row`` (as the index holds it), shape ``(dim,)``."""
        return self.index.reconstruct(int(row))

    def add(self, emb: np.ndarray, ids: np.ndarray | None = None) -> None:
        """Add rows of ``emb`` (normalised here) under ``ids`` (default: continuing 0, 1, 2, ...)."""
        x = unit_rows(emb, self.dim)
        if ids is None:
            ids = np.arange(len(self), len(self) + len(x))
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) != len(x):
            raise InputError(f"{len(x)} vectors but {len(ids)} ids")
        self.index.add_with_ids(x, ids)

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)``, each ``(n_queries, k)``: cosine similarity, best first; ids -1 past the end."""
        x = unit_rows(q, self.dim)
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        scores, ids = self.index.search(x, int(k))
        return scores, ids

    def set_search_params(self, nprobe: int = 0, ef_search: int = 0, rerank: int = 0) -> None:
        """Search breadth of an approximate index (ignored by exact ones)."""
        if rerank and self.spec.kind == RERANK:
            self.spec.rerank = int(rerank)
        params = faiss.ParameterSpace()
        if nprobe and self.spec.kind.startswith("ivf"):
            params.set_index_parameter(self.index, "nprobe", int(nprobe))
            self.spec.nprobe = int(nprobe)
        if ef_search and self.spec.kind == "hnsw":
            params.set_index_parameter(self.index, "efSearch", int(ef_search))
            self.spec.ef_search = int(ef_search)

    def info(self) -> dict:
        """What ``lafg index info`` prints: kind, factory string, size, search parameters."""
        return {
            "kind": self.spec.kind, "factory": self.spec.factory(self.dim), "dim": self.dim, "count": len(self),
            "nprobe": self.spec.nprobe, "ef_search": self.spec.ef_search, "rerank": self.spec.rerank,
            "bytes_per_vector": _code_bytes(self.spec, self.dim),
            "resident_bytes": self.nbytes, "max_ram": self.spec.max_ram, "calibrated_recall@10": self.recall,
        }

    def save(self, path: str | Path) -> None:
        """Write the faiss index to ``path`` and a JSON sidecar ``path + '.json'`` (no pickle), atomically."""
        path = Path(path)
        with atomic_path(path) as tmp:
            faiss.write_index(self.index, str(tmp))
        self._write_sidecar(path)

    def _write_sidecar(self, path: Path, **extra) -> None:
        meta = {"format": FORMAT, "dim": self.dim, "count": len(self), "metric": "cosine", "spec": asdict(self.spec),
                "calibrated_recall@10": self.recall, "resident_bytes": self.nbytes, **extra}
        atomic_write_text(_sidecar(path), json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True) -> EmbeddingIndex:
        """Read an index written by :meth:`save`, checking it against its sidecar.

        ``mmap``: map the stored codes from disk instead of reading them (a 1M-row index opens in milliseconds;
        pages load on first use and the OS may share or drop them).
        """
        path = Path(path)
        if not path.is_file() or not _sidecar(path).is_file():
            raise InputError(f"index not found (need {path} and {_sidecar(path).name})")
        meta = json.loads(_sidecar(path).read_text(encoding="utf-8"))
        if meta.get("format") not in (FORMAT, *OLD_FORMATS):
            raise InputError(f"{path} is not a {FORMAT} index")
        if meta.get("spec", {}).get("kind") == RERANK:
            return RerankIndex.load_rerank(path, meta)
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
        try:
            index = faiss.read_index(str(path), flags)
        except RuntimeError:  # an index type faiss cannot map: read it into memory
            index = faiss.read_index(str(path))
        if index.d != meta["dim"] or index.ntotal != meta["count"]:
            raise InputError(f"{path} does not match its sidecar (dim/count differ)")
        spec = IndexSpec(**meta["spec"]) if "spec" in meta else IndexSpec("flat")
        out = cls(meta["dim"], _index=index, spec=spec)
        out.set_search_params(spec.nprobe, spec.ef_search)
        out.recall = meta.get("calibrated_recall@10")
        return out


class RerankIndex(EmbeddingIndex):
    """``ivf-pq-rerank``: compressed codes in RAM propose ``spec.rerank`` candidates per query, which are re-scored
    exactly against fp16 unit vectors memory-mapped from disk (``<index>.vectors.npy``), best first.

    The faiss index holds row numbers; ``ids`` (None: the row numbers themselves) maps rows to the caller's ids.
    Until :meth:`save`, ``vectors`` may be an in-memory array; after save or load it is the memory map.
    """

    def __init__(self, dim: int, _index: faiss.Index, spec: IndexSpec, vectors: np.ndarray, ids: np.ndarray | None = None):
        super().__init__(dim, _index, spec)
        self.vectors, self.ids = vectors, ids

    def __len__(self) -> int:
        return len(self.vectors)

    def add(self, emb: np.ndarray, ids: np.ndarray | None = None) -> None:
        raise InputError(f"an {RERANK} index is built whole (build_index), not added to")

    def vector(self, row: int) -> np.ndarray:
        return np.asarray(self.vectors[int(row)], dtype=np.float32)

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        x = unit_rows(q, self.dim)
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        k = int(k)
        _, cand = self.index.search(x, max(k, self.spec.rerank or RERANK_GRID[2]))
        scores = np.full((len(x), k), -np.finfo(np.float32).max, dtype=np.float32)  # faiss's "no result"
        found = np.full((len(x), k), -1, dtype=np.int64)
        for r, (query, rows) in enumerate(zip(x, cand, strict=True)):
            rows = np.unique(rows[rows >= 0])  # sorted: the memory-mapped reads go forward through the file
            exact = np.asarray(self.vectors[rows], dtype=np.float32) @ query
            top = np.lexsort((rows, -exact))[:k]  # best first, ties by row
            scores[r, : len(top)], found[r, : len(top)] = exact[top], rows[top]
        if self.ids is not None:
            found = np.where(found >= 0, np.asarray(self.ids)[np.maximum(found, 0)], -1)
        return scores, found

    def save(self, path: str | Path) -> None:
        """The faiss index (codes), the fp16 vectors (``.vectors.npy``, unless they already are that file), the
        ids (``.ids.npy``, when not the row numbers) and the sidecar; then ``vectors`` is the memory map."""
        path = Path(path)
        vec_path, ids_path = _vectors_path(path), path.with_name(path.name + ".ids.npy")
        with atomic_path(path) as tmp:
            faiss.write_index(self.index, str(tmp))
        if not (isinstance(self.vectors, np.memmap) and Path(self.vectors.filename).resolve() == vec_path.resolve()):
            _write_npy_chunked(vec_path, self.vectors, np.float16)
        if self.ids is not None:
            _write_npy_chunked(ids_path, self.ids, np.int64)
        elif ids_path.exists():
            ids_path.unlink()
        self._write_sidecar(path, vectors=vec_path.name, ids=ids_path.name if self.ids is not None else None)
        self.vectors = np.load(vec_path, mmap_mode="r", allow_pickle=False)
        self.ids = np.load(ids_path, mmap_mode="r", allow_pickle=False) if self.ids is not None else None

    @classmethod
    def load_rerank(cls, path: Path, meta: dict) -> RerankIndex:
        """Codes read into RAM (what the budget counts); vectors and ids memory-mapped, checked against the sidecar."""
        index = faiss.read_index(str(path))
        vec_path = path.with_name(meta.get("vectors") or _vectors_path(path).name)
        if Path(vec_path.name).name != vec_path.name or not vec_path.is_file():
            raise InputError(f"{path}: its vectors file {vec_path.name} is missing")
        try:
            vectors = np.load(vec_path, mmap_mode="r", allow_pickle=False)
            ids = np.load(path.with_name(meta["ids"]), mmap_mode="r", allow_pickle=False) if meta.get("ids") else None
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: unreadable vectors/ids file ({exc})") from None
        n, dim = int(meta["count"]), int(meta["dim"])
        if (index.d != dim or index.ntotal != n or vectors.shape != (n, dim) or vectors.dtype != np.float16
                or (ids is not None and ids.shape != (n,))):
            raise InputError(f"{path} does not match its sidecar or its vectors file (dim/count/dtype differ)")
        out = cls(dim, index, IndexSpec(**meta["spec"]), vectors, ids)
        out.set_search_params(out.spec.nprobe, 0, out.spec.rerank)
        out.recall = meta.get("calibrated_recall@10")
        return out


def _vectors_path(path: Path) -> Path:
    return path.with_name(path.name + ".vectors.npy")


def _write_npy_chunked(path: Path, values: np.ndarray, dtype, chunk: int = ADD_CHUNK * 4) -> None:
    """``values`` as a ``dtype`` .npy at ``path``, written atomically through a memory map, chunk by chunk."""
    with atomic_path(path, suffix=".npy") as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=values.shape)
        for start in range(0, len(values), chunk):
            out[start : start + chunk] = values[start : start + chunk]
        out.flush()
        del out


def _code_bytes(spec: IndexSpec, dim: int) -> int:
    return {
        "flat": 4 * dim, "flat-fp16": 2 * dim, "hnsw": 4 * dim + 8 * spec.hnsw_m, "ivf-sq8": dim,
        "ivf-pq": spec.pq_bytes, RERANK: spec.pq_bytes,
    }.get(spec.kind, 4 * dim)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def build_index(
    emb: np.ndarray,
    progress: Progress | None = None,
    ids: np.ndarray | None = None,
    spec: IndexSpec | str | None = None,
    vectors_path: str | Path | None = None,
) -> EmbeddingIndex:
    """An :class:`EmbeddingIndex` over the rows of ``emb`` (ids = row numbers unless given).

    ``spec``: an :class:`IndexSpec`, a kind name, or None for ``auto``. Approximate kinds are trained on a random
    sample of the rows and calibrated to ``spec.target_recall`` unless ``nprobe`` / ``ef_search`` are given.
    ``emb`` may be memory-mapped: it is read in chunks, never converted whole. ``vectors_path`` (``ivf-pq-rerank``
    only): write the fp16 vectors there while building (the file :meth:`RerankIndex.save` will use: pass
    ``<index path>.vectors.npy``) instead of holding them in RAM until save; a float16 memory map of unit rows
    given as ``emb`` is used as the vectors file as it is.
    """
    if not isinstance(emb, np.ndarray):
        emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim != 2:
        raise InputError(f"embeddings must be 2-D, got shape {emb.shape}")
    n, dim = emb.shape
    spec = IndexSpec(spec) if isinstance(spec, str) else (spec or IndexSpec())
    spec = spec.resolve(n, dim)
    rng = np.random.default_rng(spec.seed)
    if spec.kind == RERANK:
        return _build_rerank(emb, ids, spec, rng, progress, vectors_path)
    ids = np.arange(n) if ids is None else np.asarray(ids, dtype=np.int64)
    inner = faiss.index_factory(dim, spec.factory(dim), faiss.METRIC_INNER_PRODUCT)
    if spec.kind == "hnsw":
        inner.hnsw.efConstruction = 40  # faiss's default; a build of 1M rows still takes many CPU-minutes
    index = EmbeddingIndex(dim, faiss.IndexIDMap2(inner), spec)
    if not inner.is_trained:
        if n == 0:
            raise InputError(f"an {spec.kind} index needs vectors to train on")
        _train(inner, emb, max(TRAIN_SAMPLE * spec.nlist, 10_000), rng, progress, spec.factory(dim))
    for start in range(0, n, ADD_CHUNK):
        index.add(emb[start : start + ADD_CHUNK], ids[start : start + ADD_CHUNK])
        if progress:
            progress(min(start + ADD_CHUNK, n), n, "indexing embeddings")
    if spec.kind in ("ivf-sq8", "ivf-pq", "hnsw") and n:
        index.recall = calibrate(index, emb, ids, rng)
    return index


def _train(inner: faiss.Index, emb: np.ndarray, size: int, rng: np.random.Generator, progress: Progress | None, name: str) -> None:
    """Train ``inner`` on a random sample of ``size`` rows (sorted: a memory map reads them front to back)."""
    sample = np.sort(rng.choice(len(emb), size=min(len(emb), size), replace=False))
    if progress:
        progress(0, len(emb), f"training {name} on {len(sample)} vectors")
    inner.train(unit_rows(emb[sample]))


def _build_rerank(emb, ids, spec: IndexSpec, rng, progress: Progress | None, vectors_path) -> RerankIndex:
    """OPQ + IVF + PQ codes over row numbers, the fp16 unit vectors beside them, calibrated (nprobe, rerank)."""
    n, dim = emb.shape
    if n < RERANK_MIN_ROWS:
        raise InputError(f"{RERANK} needs at least {RERANK_MIN_ROWS} rows to train its codes (got {n}): use flat")
    vectors = _fp16_vectors(emb, vectors_path)
    inner = faiss.index_factory(dim, spec.factory(dim), faiss.METRIC_INNER_PRODUCT)
    opq = faiss.downcast_VectorTransform(faiss.downcast_index(inner).chain.at(0))
    opq.niter, opq.niter_pq_0 = OPQ_ITERATIONS, OPQ_ITERATIONS
    _train(inner, vectors, max(TRAIN_SAMPLE * spec.nlist, PQ_TRAIN), rng, progress, spec.factory(dim))
    for start in range(0, n, ADD_CHUNK):
        block = np.asarray(vectors[start : start + ADD_CHUNK], dtype=np.float32)
        inner.add_with_ids(block, np.arange(start, start + len(block), dtype=np.int64))
        if progress:
            progress(min(start + ADD_CHUNK, n), n, "encoding embeddings")
    keep_ids = None if ids is None else np.asarray(ids, dtype=np.int64).reshape(-1)
    if keep_ids is not None and len(keep_ids) != n:
        raise InputError(f"{n} vectors but {len(keep_ids)} ids")
    index = RerankIndex(dim, inner, spec, vectors, keep_ids)
    index.recall = calibrate(index, vectors, np.arange(n) if keep_ids is None else keep_ids, rng)
    return index


def _fp16_vectors(emb: np.ndarray, vectors_path) -> np.ndarray:
    """Unit rows of ``emb`` as float16: ``emb`` itself when it already is a float16 memory map of unit rows,
    else written chunk by chunk to ``vectors_path`` (memory-mapped) or kept in RAM when no path is given."""
    if isinstance(emb, np.memmap) and emb.dtype == np.float16:
        probe = np.asarray(emb[:: max(1, len(emb) // 1000)], dtype=np.float32)
        norms = np.linalg.norm(probe, axis=1)
        if np.abs(norms - 1).max() > 1e-2:
            raise InputError("a float16 vectors file must hold unit rows (L2-normalise before writing it)")
        return emb
    n, dim = emb.shape
    if vectors_path is None:
        out = np.empty((n, dim), dtype=np.float16)
    else:
        Path(vectors_path).parent.mkdir(parents=True, exist_ok=True)
        out = np.lib.format.open_memmap(Path(vectors_path), mode="w+", dtype=np.float16, shape=(n, dim))
    for start in range(0, n, ADD_CHUNK):
        out[start : start + ADD_CHUNK] = unit_rows(emb[start : start + ADD_CHUNK], dim)
    if isinstance(out, np.memmap):
        out.flush()
        out = np.load(Path(vectors_path), mmap_mode="r", allow_pickle=False)
    return out


def calibrate(index: EmbeddingIndex, emb: np.ndarray, ids: np.ndarray, rng: np.random.Generator, k: int = 10) -> float:
    """Set the smallest nprobe / efSearch reaching ``index.spec.target_recall`` recall@k on sample rows used as
    queries (against exact search; each query's own row is left out of both lists, so it is not a free hit);
    keeps a breadth given in the spec. Returns the recall reached."""
    spec = index.spec
    rows = np.sort(rng.choice(len(emb), size=min(CALIBRATION_QUERIES, len(emb)), replace=False))
    queries, own = unit_rows(emb[rows]), np.asarray(ids)[rows]
    truth = _without(exact_topk(emb, queries, k + 1, ids), own, k)

    def recall_now() -> float:
        return neighbour_recall(_without(index.search(queries, k + 1)[1], own, k), truth)

    if spec.kind == RERANK:
        return _calibrate_rerank(index, recall_now)
    if spec.kind == "hnsw":
        grid = [spec.ef_search] if spec.ef_search else [16, 32, 64, 128, 256, 512, 1024]
        name = "ef_search"
    else:
        grid = [spec.nprobe] if spec.nprobe else [p for p in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024) if p <= spec.nlist]
        if not spec.nprobe and grid[-1] < spec.nlist:
            grid.append(spec.nlist)
        name = "nprobe"
    recall = 0.0
    for value in grid:
        index.set_search_params(**{name: value})
        previous, recall = recall, recall_now()
        if recall >= spec.target_recall or (value >= 16 and recall - previous < 0.002):  # reached, or codes cap it
            break
    return recall


def _calibrate_rerank(index: RerankIndex, recall_now: Callable[[], float]) -> float:
    """Two knobs: first the lists visited (nprobe) with the widest candidate list, then the fewest candidates
    that keep the recall reached (given values are kept)."""
    spec = index.spec
    fixed_rerank, widest = spec.rerank, spec.rerank or RERANK_GRID[-1]
    index.set_search_params(rerank=widest)
    probes = [spec.nprobe] if spec.nprobe else [p for p in (1, 2, 4, 8, 16, 32, 64, 128, 256) if p < spec.nlist] + [spec.nlist]
    recall = 0.0
    for nprobe in probes:
        index.set_search_params(nprobe=nprobe)
        previous, recall = recall, recall_now()
        if recall >= spec.target_recall or (nprobe >= 16 and recall - previous < 0.002):
            break
    if fixed_rerank:
        return recall
    goal = min(spec.target_recall, recall - 0.002)  # the widest list's recall, less noise, when short of target
    for rerank in RERANK_GRID:
        index.set_search_params(rerank=rerank)
        reached = recall_now()
        if reached >= goal:
            return reached
    return recall


def _without(found: np.ndarray, own: np.ndarray, k: int) -> np.ndarray:
    """Each row's first ``k`` ids other than its own (padded with -1)."""
    out = np.full((len(found), k), -1, dtype=np.int64)
    for r, (row, me) in enumerate(zip(found, own, strict=True)):
        kept = [int(i) for i in row if i != me][:k]
        out[r, : len(kept)] = kept
    return out


def exact_topk(emb: np.ndarray, queries: np.ndarray, k: int, ids: np.ndarray | None = None, chunk: int = 65536) -> np.ndarray:
    """Ids of the exact cosine top-``k`` rows of ``emb`` for each query (chunked, so memory stays bounded)."""
    q = unit_rows(queries)
    best_s = np.full((len(q), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(q), 0), dtype=np.int64)
    for start in range(0, len(emb), chunk):
        block = unit_rows(emb[start : start + chunk])
        s = q @ block.T
        s_all = np.concatenate([best_s, s], axis=1)
        i_all = np.concatenate([best_i, np.broadcast_to(np.arange(start, start + len(block)), s.shape)], axis=1)
        keep = min(k, s_all.shape[1])
        part = np.argpartition(-s_all, keep - 1, axis=1)[:, :keep]
        best_s = np.take_along_axis(s_all, part, axis=1)
        best_i = np.take_along_axis(i_all, part, axis=1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    rows = np.take_along_axis(best_i, order, axis=1)
    return rows if ids is None else np.asarray(ids)[rows]


def neighbour_recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each query's true top-k ids that ``found`` (same shape) contains."""
    hits = [len(set(f.tolist()) & set(t.tolist())) / max(1, len(t)) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) if hits else 1.0


def topk_rows(matrix_unit: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, rows)`` of the ``k`` rows of a pre-normalised matrix closest in cosine to ``query``, best first.

    One matrix-vector product and an ``argpartition`` (no full sort, no per-query renormalisation)."""
    q = unit_rows(query)[0]
    sims = np.asarray(matrix_unit, dtype=np.float32) @ q
    k = max(0, min(int(k), len(sims)))
    if k == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    top = top[np.lexsort((top, -sims[top]))]
    return sims[top], top.astype(np.int64)


# ------------------------------------------------------------------------------------------- feature store
def files_fingerprint(paths: Sequence[str | Path]) -> str:
    """A hash of the files' paths, sizes and modification times: changes when any image is added/edited."""
    h = hashlib.sha256()
    for p in paths:
        try:
            st = os.stat(p)
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p}\0missing\n".encode())
    return h.hexdigest()[:24]


class FeatureStore:
    """A folder holding named float32 matrices (``.npy``, memory-mapped on load) and indexes over them.

    Every entry is valid for one ``fingerprint`` (e.g. :func:`files_fingerprint` of the images plus the model
    name); a different fingerprint recomputes and overwrites. Writes are atomic (temporary file + rename), so a
    process killed half-way leaves the previous entry or none.
    """

    def __init__(self, folder: str | Path, fingerprint: str):
        self.folder = Path(folder)
        self.fingerprint = str(fingerprint)

    def _meta_path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def _valid(self, name: str) -> bool:
        meta = self._meta_path(name)
        if not meta.is_file():
            return False
        try:
            return json.loads(meta.read_text(encoding="utf-8")).get("fingerprint") == self.fingerprint
        except (OSError, json.JSONDecodeError):
            return False

    def _mark(self, name: str, **extra) -> None:
        atomic_write_text(self._meta_path(name), json.dumps({"fingerprint": self.fingerprint, **extra}))

    def arrays(self, names: Sequence[str], compute: Callable[[], Sequence[np.ndarray]]) -> tuple[np.ndarray, ...]:
        """The stored arrays ``names`` (read-only, memory-mapped); ``compute()`` gives all of them (in that order)
        when any is missing or stale, and they are stored."""
        paths = [self.folder / f"{name}.npy" for name in names]
        if all(self._valid(n) and p.is_file() for n, p in zip(names, paths, strict=True)):
            return tuple(np.load(p, mmap_mode="r", allow_pickle=False) for p in paths)
        values = tuple(np.asarray(v) for v in compute())
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, path, value in zip(names, paths, values, strict=True):
            with atomic_path(path, suffix=".npy") as tmp:  # np.save appends .npy to any other name
                np.save(tmp, value, allow_pickle=False)
            self._mark(name, shape=list(value.shape))
        return values

    def array(self, name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """One stored array (see :meth:`arrays`)."""
        return self.arrays([name], lambda: [compute()])[0]

    def index(
        self, name: str, vectors: np.ndarray, spec: IndexSpec | str | None = None, progress: Progress | None = None
    ) -> EmbeddingIndex:
        """The stored index ``name`` over ``vectors`` (memory-mapped), built and saved when missing/stale."""
        path = self.folder / f"{name}.faiss"
        spec = IndexSpec(spec) if isinstance(spec, str) else (spec or IndexSpec())
        asked = asdict(spec)  # a different request (kind, budget...) rebuilds, even for the same vectors
        if self._valid(f"{name}-index") and path.is_file() and self._extra(f"{name}-index").get("spec", asdict(IndexSpec())) == asked:
            index = EmbeddingIndex.load(path)
            if len(index) == len(vectors):
                return index
        vectors_path = _vectors_path(path) if spec.resolve(*vectors.shape).kind == RERANK else None
        index = build_index(vectors, progress, spec=spec, vectors_path=vectors_path)
        index.save(path)
        self._mark(f"{name}-index", count=len(index), spec=asked)
        return index

    def _extra(self, name: str) -> dict:
        try:
            return json.loads(self._meta_path(name).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}


GALLERY_INDEX_FLOOR = 64 * 2**20  # an app gallery's index may always take this much (small galleries stay exact)


def gallery_index_spec(n: int, bytes_per_image: int, cap: int) -> IndexSpec:
    """The app's index request for a gallery of ``n`` rows: ``auto`` under a RAM budget of ``bytes_per_image``
    per row, at least :data:`GALLERY_INDEX_FLOOR` and at most ``cap`` (0 per image: ``auto`` by size alone)."""
    if not bytes_per_image:
        return IndexSpec()
    return IndexSpec(max_ram=int(min(cap, max(GALLERY_INDEX_FLOOR, bytes_per_image * n))))


def memory_bytes(obj) -> int:
    """Resident-size estimate of a gallery-like object: its arrays (memory-mapped ones count at 0: the OS pages
    them in and out) plus any ``nbytes`` of indexes among its attributes."""
    total = 0
    for value in vars(obj).values() if hasattr(obj, "__dict__") else ():
        if isinstance(value, np.memmap):
            continue
        if isinstance(value, np.ndarray):
            total += 0 if isinstance(value.base, np.memmap) else value.nbytes
        elif isinstance(value, EmbeddingIndex):
            total += value.nbytes
    return total


def gallery_store(
    root: str | Path, model_name: str, dataset_dir: str | Path, paths: Sequence[str], ckpt: str | None, extra=None
) -> tuple[FeatureStore, str, str]:
    """``(store, emb_tag, lang_tag)`` for an app gallery: one folder per (model, data set) under ``root/galleries``,
    valid while the image files are unchanged; the tags name the checkpoint's arrays (path, size and mtime, so a
    retrained checkpoint is recomputed) and, for ``lang_tag``, whatever else the attribute space reads (``extra``,
    e.g. the descriptions)."""
    folder = Path(root) / "galleries" / content_key(model_name, str(Path(dataset_dir).resolve()))
    store = FeatureStore(folder, content_key(model_name, files_fingerprint(paths)))
    ck = ["pretrained"]
    if ckpt:
        st = os.stat(ckpt)
        ck = [str(Path(ckpt).resolve()), st.st_size, st.st_mtime_ns]
    tag = content_key(*ck)
    return store, tag, content_key(tag, extra)


# ------------------------------------------------------------------------------------------ sharded galleries
SHARD_META = "features-{i:04d}-of-{n:04d}.json"


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` (0-based ``i``) → ``(i, n)``; a clear error otherwise."""
    try:
        i, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise InputError(f"--shard takes i/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise InputError(f"shard {i}/{n}: i must be in 0..{n - 1}")
    return i, n


def shard_rows(total: int, i: int, n: int) -> range:
    """The contiguous rows shard ``i`` of ``n`` takes of ``total`` items (sizes differ by at most one)."""
    return range(total * i // n, total * (i + 1) // n)


def write_shard(folder: str | Path, i: int, n: int, feats: np.ndarray, meta: dict) -> Path:
    """Store one shard's features (float32 ``.npy``) and its JSON record (paths, labels, model...), atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / SHARD_META.format(i=i, n=n)
    npy = meta_path.with_suffix(".npy")
    with atomic_path(npy, suffix=".npy") as tmp:
        np.save(tmp, np.asarray(feats, dtype=np.float32), allow_pickle=False)
    atomic_write_text(meta_path, json.dumps({**meta, "shard": [i, n], "count": len(feats)}))
    return npy


def merge_shards(folder: str | Path, out_name: str = "features") -> tuple[np.ndarray, dict]:
    """Concatenate every shard of ``folder`` in shard order into ``out_name.npy`` (written through a memory map,
    so the merged matrix never has to fit in RAM) and ``out_name.json``; returns ``(features (mmap), meta)``.

    Refuses a set with missing shards, shards of different runs (``n``) or of different models."""
    folder = Path(folder)
    metas = sorted(folder.glob("features-*-of-*.json"))
    if not metas:
        raise InputError(f"no shards (features-i-of-n.json) in {folder}: run lafg embed --out {folder} first")
    records = [json.loads(p.read_text(encoding="utf-8")) for p in metas]
    counts = {r["shard"][1] for r in records}
    if len(counts) != 1:
        raise InputError(f"{folder} mixes shard sets of different sizes: {sorted(counts)}")
    n = counts.pop()
    have = sorted(r["shard"][0] for r in records)
    if have != list(range(n)):
        missing = sorted(set(range(n)) - set(have))
        raise InputError(f"{folder}: shard(s) {missing} of {n} missing; run lafg embed --shard i/{n} for them")
    models = {r.get("model") for r in records}
    if len(models) != 1:
        raise InputError(f"{folder}: shards come from different models {sorted(map(str, models))}")
    records.sort(key=lambda r: r["shard"][0])
    arrays = [np.load(folder / SHARD_META.format(i=r["shard"][0], n=n).replace(".json", ".npy"), mmap_mode="r") for r in records]
    dims = {a.shape[1] for a in arrays if a.ndim == 2}
    if len(dims) > 1:
        raise InputError(f"{folder}: shards have different feature sizes {sorted(dims)}")
    total = sum(len(a) for a in arrays)
    out = folder / f"{out_name}.npy"
    with atomic_path(out, suffix=".npy") as tmp:
        merged = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, dims.pop() if dims else 0))
        row = 0
        for a in arrays:
            merged[row : row + len(a)] = a
            row += len(a)
        merged.flush()
        del merged
    meta = {k: v for k, v in records[0].items() if k not in ("shard", "count", "paths", "labels")}
    meta.update(paths=[p for r in records for p in r.get("paths", [])], labels=[c for r in records for c in r.get("labels", [])])
    meta["count"] = total
    atomic_write_text(folder / f"{out_name}.json", json.dumps(meta))
    return np.load(out, mmap_mode="r"), meta
