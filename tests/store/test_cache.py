import sqlite3

import numpy as np
import pytest

from lafg.store.cache import ArrayCache, JsonCache, cache_key


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


class _RunsCode:
    """Unpickling this writes a marker file: the proof that a cache executed code."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("big", [False, True])
def test_json_cache_never_unpickles_a_tampered_row(tmp_path, big, caplog):
    """A row planted in diskcache's pickle mode (in the db or as a file) is refused, deleted and rebuilt."""
    import diskcache

    from lafg.store.cache import JsonCache, cache_key

    marker = tmp_path / "pwned"
    _RunsCode.marker = str(marker)
    JsonCache(tmp_path, "d").set({"k": 1}, {"descriptions": ["ok"]})
    evil = diskcache.Cache(str(tmp_path / "d"), disk_min_file_size=0 if big else 2**15)
    evil.set(cache_key({"k": 1}), _RunsCode())  # default Disk: MODE_PICKLE
    evil.close()
    cache = JsonCache(tmp_path, "d")
    with caplog.at_level("WARNING"):
        assert cache.get({"k": 1}) is None
    assert not marker.exists() and cache.tampered == 1 and "refused a row" in caplog.text
    cache.set({"k": 1}, {"descriptions": ["rebuilt"]})
    assert JsonCache(tmp_path, "d").get({"k": 1}) == {"descriptions": ["rebuilt"]}


def test_json_cache_refuses_text_mode_and_pickled_keys(tmp_path):
    import sqlite3

    from lafg.store.cache import JsonCache

    cache = JsonCache(tmp_path, "d")
    cache.set({"k": 2}, [1, 2])
    db = sqlite3.connect(tmp_path / "d" / "cache.db")
    db.execute("UPDATE Cache SET mode = 3")  # MODE_TEXT: LaFG never writes it
    db.commit()
    db.close()
    assert JsonCache(tmp_path, "d").get({"k": 2}) is None
    with pytest.raises(TypeError):
        cache._cache.set(("tuple", "key"), 1)
