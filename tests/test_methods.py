import numpy as np
import pytest

from lafg.errors import InputError
from lafg.methods import control_prototypes, derangement, get_method, list_methods, random_prototypes


def test_registry_lists_the_ladder():
    assert list_methods() == [
        "pretrained",
        "onehot",
        "aux",
        "template",
        "descriptions",
        "lafg",
        "random",
        "permuted",
    ]
    assert not get_method("pretrained").trains
    assert get_method("onehot").onehot and not get_method("onehot").align
    assert get_method("lafg").aux and get_method("lafg").align
    assert get_method("permuted").language_variant == "lafg"
    with pytest.raises(InputError):
        get_method("nope")


def test_controls():
    vectors = np.eye(5, dtype=np.float32)
    perm = derangement(5)
    assert sorted(perm.tolist()) == list(range(5)) and (perm != np.arange(5)).all()
    permuted = control_prototypes(get_method("permuted"), vectors)
    assert (permuted == vectors[perm]).all()
    rnd = control_prototypes(get_method("random"), vectors)
    assert rnd.shape == (5, 5) and np.allclose(np.linalg.norm(rnd, axis=1), 1.0)
    assert (rnd == random_prototypes(5, 5)).all()  # fixed, independent of the run's seed
    assert control_prototypes(get_method("lafg"), vectors) is vectors
