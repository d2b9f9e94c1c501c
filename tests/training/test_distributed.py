"""Data-parallel training for real: 2 CPU processes under torchrun (gloo) against one process, same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lafg.errors import InputError
from lafg.training.distributed import DistContext, check_batch

ROOT = Path(__file__).resolve().parents[2]


def test_batches_must_split_into_whole_classes_per_rank():
    check_batch(8, 2, DistContext(0, 2))
    with pytest.raises(InputError, match="divides 3"):
        check_batch(6, 2, DistContext(0, 2))  # 3 classes × 2 images cannot split into whole classes
    check_batch(6, 2, DistContext(0, 1))


def test_two_gloo_processes_match_one_process(tmp_path):
    from tests.distributed_worker import main

    main(str(tmp_path / "single"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "LAFG_ONNX": "0"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests" / "distributed_worker.py"), str(tmp_path / "ddp")]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    single = json.loads((tmp_path / "single" / "rank0.json").read_text())
    ranks = [json.loads((tmp_path / "ddp" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[1]["steps"] == []  # only rank 0 reports progress
    steps = ranks[0]["steps"]
    assert len(steps) == len(single["steps"]) == 3 * 10  # 80 images / batch 8 = 10 steps per epoch
    for key in ("aux", "ali"):  # the same loss curve, step by step
        np.testing.assert_allclose([s[key] for s in steps], [s[key] for s in single["steps"]], rtol=1e-4, atol=1e-5)
    for name, value in single["state"].items():  # the same trained weights on both ranks
        for rank in ranks:
            np.testing.assert_allclose(rank["state"][name], value, rtol=1e-3, atol=1e-5)
    # An interrupted run resumed from rank 0's checkpoint ends where the uninterrupted one does.
    np.testing.assert_allclose([s["aux"] for s in ranks[0]["resumed_steps"]], [s["aux"] for s in steps[20:]], rtol=1e-5)
    for name, value in ranks[0]["state"].items():
        np.testing.assert_allclose(ranks[0]["resumed_state"][name], value, rtol=1e-5, atol=1e-6)
    lines = (tmp_path / "ddp" / "full" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3  # one writer: rank 0
