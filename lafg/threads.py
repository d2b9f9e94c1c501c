"""One thread policy for the whole library: torch, faiss, ONNX Runtime and the bundled LLM use ``threads()``.

Small-op work (a 135M LLM, one image, a few hundred faiss queries) slows 10–30× when every library spins a
thread per core on a machine that is already busy, so the default leaves cores to whatever else is running:
``LAFG_THREADS`` if set, else the CPUs this process may use minus the current load (1-minute average), at
least 1 and at most 8. ``set_threads(n)`` (CLI ``--threads``) applies an explicit choice everywhere at once.
"""

from __future__ import annotations

import os

ENV = "LAFG_THREADS"
MAX_DEFAULT = 8  # past this, per-thread gains are small for our batch sizes and other users suffer

_chosen: int | None = None


def available_cpus() -> int:
    """CPUs this process may run on (affinity mask, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """``LAFG_THREADS`` when set (a positive integer), else free CPUs = available − load, clamped to 1..8."""
    raw = os.environ.get(ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value >= 1:
            return value
    cpus = available_cpus()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, min(MAX_DEFAULT, cpus - int(round(load))))


def threads() -> int:
    """The thread count in force: the last :func:`set_threads` value, else :func:`default_threads` (fixed once)."""
    global _chosen
    if _chosen is None:
        set_threads(None)
    return _chosen


def set_threads(n: int | None) -> int:
    """Use ``n`` threads (None: :func:`default_threads`) in torch, faiss and later ONNX/LLM sessions; returns n.

    torch's inter-op pool is set to 1 once per process (it can only be set before any parallel work).
    """
    global _chosen
    n = default_threads() if n is None else int(n)
    if n < 1:
        from lafg.errors import InputError

        raise InputError(f"threads must be at least 1, got {n}")
    _chosen = n
    try:
        import torch

        torch.set_num_threads(n)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass  # already set (or parallel work already ran) in this process
    except ImportError:
        pass
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:
        pass
    return n


def add_threads_arg(parser) -> None:
    """``--threads N`` on a CLI parser (default: :func:`default_threads`)."""
    parser.add_argument(
        "--threads", type=int, default=None,
        help=f"CPU threads for torch/faiss/ONNX (default: ${ENV}, else free cores, at most {MAX_DEFAULT})",
    )
