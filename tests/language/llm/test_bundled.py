"""The real bundled LLM (SmolLM2-135M-Instruct GGUF): loads offline and describes real CUB classes."""

import pytest

from lafg.language.describe import DescribeConfig, describe_classes
from lafg.language.llm import create_llm


@pytest.mark.slow
def test_bundled_describes_two_cub_classes(tmp_path):
    import torch

    torch.set_num_threads(2)
    llm = create_llm("bundled")
    names = ["Laysan Albatross", "Red winged Blackbird"]
    progress = []
    out = describe_classes(names, llm, DescribeConfig(n=3, max_new_tokens=48), progress=lambda *a: progress.append(a))
    assert list(out) == names
    for name in names:
        assert len(out[name]) >= 1, f"no description for {name}"
        assert all(isinstance(s, str) and len(s.split()) >= 2 for s in out[name])
        assert len(out[name]) <= 3
    assert 0 < llm.tokens_generated <= 2 * 48 * 2  # at most one retry per class
    assert progress[-1][:2] == (2, 2)
    # the model is cached per process: a second backend object reuses it
    assert create_llm("bundled").load() is llm.load()
