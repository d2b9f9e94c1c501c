import numpy as np
import pytest

from lafg.errors import InputError
from lafg.language.encode import l2_normalise
from lafg.language.prototypes import PrototypeConfig, Prototypes, build_prototypes
from lafg.language.side import Language
from lafg.language.vocabulary import VocabularyConfig, build_vocabulary
from lafg.pipeline import method_prototypes
from lafg.training.methods import (
    CONTROL_SEED,
    atom_mixture,
    control_prototypes,
    control_seed,
    derangement,
    get_method,
    list_methods,
    random_prototypes,
    shuffled_atoms,
)


def test_registry_lists_the_ladder():
    assert list_methods() == [
        "pretrained",
        "onehot",
        "aux",
        "template",
        "descriptions",
        "lafg",
        "grounded",
        "random",
        "permuted",
        "shuffled-atoms",
        "permuted-grounded",
    ]
    assert not get_method("pretrained").trains
    assert get_method("onehot").onehot and not get_method("onehot").align
    assert get_method("lafg").aux and get_method("lafg").align
    assert get_method("permuted").language_variant == "lafg"
    assert get_method("shuffled-atoms").language_variant == "lafg" and get_method("shuffled-atoms").align
    assert get_method("grounded").language_variant == "grounded" and get_method("grounded").align
    # grounded's own control permutes the grounded prototypes, not the LaFG ones
    assert get_method("permuted-grounded").language_variant == "grounded"
    assert get_method("permuted-grounded").prototypes == "permuted"
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
    assert (rnd == random_prototypes(5, 5)).all()  # seed None: the fixed CONTROL_SEED draw of earlier results
    assert control_prototypes(get_method("lafg"), vectors) is vectors


def test_controls_are_drawn_per_run_seed():
    vectors = np.eye(6, dtype=np.float32)
    perms = [derangement(6, control_seed(s)) for s in range(4)]
    assert all((p != np.arange(6)).all() and sorted(p.tolist()) == list(range(6)) for p in perms)
    assert len({tuple(p) for p in perms}) > 1  # different seeds, different derangements
    for s in range(2):
        permuted = control_prototypes(get_method("permuted"), vectors, seed=s)
        assert (permuted == vectors[perms[s]]).all()  # same seed, same draw
        rnd = control_prototypes(get_method("random"), vectors, seed=s)
        assert (rnd == random_prototypes(6, 6, [CONTROL_SEED, s])).all()
    assert not (control_prototypes(get_method("random"), vectors, seed=0) == control_prototypes(get_method("random"), vectors, seed=1)).all()
    assert control_seed(None) == CONTROL_SEED and control_seed(3) == [CONTROL_SEED, 3]


def test_shuffled_atoms_keeps_the_template_and_swaps_the_atoms():
    template = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    mixture = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], np.float32)
    out = shuffled_atoms(template, mixture, np.array([1, 0]))
    # class 0: t_0 + m_1 = (2, 0, 0) → (1, 0, 0); class 1: t_1 + m_0 = (0, 1, 1) → (0, .7071, .7071)
    np.testing.assert_allclose(out, [[1.0, 0.0, 0.0], [0.0, 2**-0.5, 2**-0.5]], atol=1e-7)
    via_method = control_prototypes(get_method("shuffled-atoms"), template, seed=0, parts=(template, mixture))
    np.testing.assert_allclose(via_method, out, atol=1e-7)  # the only derangement of 2 classes is (1, 0)
    with pytest.raises(InputError, match="shuffled-atoms"):
        control_prototypes(get_method("shuffled-atoms"), template)


def test_shuffled_atoms_from_prototypes_and_a_language_side():
    centroids = np.eye(4, dtype=np.float32)
    vocab = build_vocabulary(["a", "b", "c", "d"], centroids, np.arange(4), ["x", "y", "z", "w"], VocabularyConfig(n_atoms=4))
    t = l2_normalise(np.array([[1, 0.5, 0, 0], [0, 1, 0.5, 0], [0, 0, 1, 0.5]], np.float32))
    protos = build_prototypes(["x", "y", "z"], t, vocab, PrototypeConfig(top_k=1))
    mix = atom_mixture(protos)
    np.testing.assert_allclose(mix, np.eye(4, dtype=np.float32)[:3], atol=1e-6)  # K=1: weight 1 on the top atom
    out = control_prototypes(get_method("shuffled-atoms"), protos, seed=1)
    perm = derangement(3, control_seed(1))
    np.testing.assert_allclose(out, l2_normalise(t + mix[perm]), atol=1e-6)
    lang = Language(["x", "y", "z"], "enc", vocab, {"lafg": protos})
    np.testing.assert_allclose(method_prototypes(lang, get_method("shuffled-atoms"), seed=1), out, atol=1e-6)


def test_permuted_grounded_deranges_the_grounded_prototypes():
    rng = np.random.default_rng(0)
    lafg, grounded = l2_normalise(rng.standard_normal((5, 4)).astype(np.float32)), l2_normalise(rng.standard_normal((5, 4)).astype(np.float32))
    names, none = list("abcde"), np.zeros((5, 0))
    lang = Language(names, "enc", None, {v: Prototypes(names, x, x, none.astype(np.int64), none.astype(np.float32), v)
                                         for v, x in (("lafg", lafg), ("grounded", grounded))})
    train = method_prototypes(lang, get_method("permuted-grounded"), seed=2)
    np.testing.assert_array_equal(train, grounded[derangement(5, control_seed(2))])
    np.testing.assert_array_equal(method_prototypes(lang, get_method("grounded"), seed=2), grounded)


def test_controls_for_each_method_include_its_own_permuted_prototypes():
    from lafg.training.methods import controls_for

    assert controls_for("lafg") == ("pretrained", "random", "permuted")
    assert controls_for("grounded") == ("pretrained", "random", "permuted-grounded")
    assert controls_for("permuted") == ("pretrained", "random")
    assert controls_for("aux") == ("pretrained", "random", "permuted")
