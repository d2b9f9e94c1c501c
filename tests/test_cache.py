import sqlite3

import numpy as np
import pytest

from lafg.cache import ArrayCache, JsonCache, cache_key


def test_cache_key_is_order_independent_and_content_sensitive():
    assert cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": [1, 2], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})
    assert len(cache_key({"x": "é"})) == 64


def test_json_cache_round_trip(tmp_path):
    cache = JsonCache(tmp_path)
    assert cache.get({"k": 1}) is None
    cache.set({"k": 1}, {"Blue Jay": ["a blue crest", "black necklace"]})
    assert JsonCache(tmp_path).get({"k": 1}) == {"Blue Jay": ["a blue crest", "black necklace"]}


def test_array_cache_round_trip_exact(tmp_path):
    cache = ArrayCache(tmp_path)
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    cache.set({"k": "x"}, x)
    y = ArrayCache(tmp_path).get({"k": "x"})
    assert y.dtype == np.float32 and np.array_equal(x, y)


def test_array_cache_refuses_pickled_entries(tmp_path):
    """An entry written in diskcache's pickle mode (as an attacker could) is refused, never unpickled."""
    cache = ArrayCache(tmp_path)
    cache.set({"k": "x"}, np.zeros(2))
    db = sqlite3.connect(tmp_path / "arrays" / "cache.db")
    db.execute("UPDATE Cache SET mode = 4")  # diskcache.core.MODE_PICKLE
    db.commit()
    db.close()
    with pytest.raises(ValueError, match="unpickle"):
        ArrayCache(tmp_path).get({"k": "x"})


def test_array_cache_stores_bytes_only(tmp_path):
    cache = ArrayCache(tmp_path)
    with pytest.raises(TypeError):
        cache._cache.set("raw", {"not": "bytes"})
