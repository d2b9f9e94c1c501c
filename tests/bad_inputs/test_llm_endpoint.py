"""An LLM endpoint that fails half-way: every class finished before the failure is cached at once."""

import pytest

from lafg.errors import BackendError
from lafg.language.describe import DescribeConfig, cache_parts, describe_classes
from lafg.language.llm import create_llm
from lafg.store.cache import JsonCache
from tests.language.llm.test_openai_backend import _no_proxy, _Server  # noqa: F401 (fixture)


def test_failing_batch_keeps_the_classes_already_described(tmp_path):
    names = [f"Bird {i}" for i in range(8)]
    cache = JsonCache(tmp_path, "descriptions")
    cfg = DescribeConfig(n=2)
    with _Server(statuses=[200] * 7 + [500] * 10) as server:
        llm = create_llm("openai", base_url=server.url, model="m", retries=1, backoff=0.01)
        with pytest.raises(BackendError, match="HTTP 500"):
            describe_classes(names, llm, cfg, cache)
    cached = [n for n in names if cache.get(cache_parts(llm, cfg, n))]
    assert cached == names[:7]


def test_cli_timeout_option_is_openai_only(tmp_path):
    from lafg.cli import main

    assert main(["describe", "--names", "a b, c d", "--llm", "bundled", "--timeout", "3", "--out", str(tmp_path)]) == 2
