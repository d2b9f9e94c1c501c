import json

import numpy as np
import pytest

from lafg.cli import main
from lafg.store.runs import load_prototypes, load_vocabulary

DESC = {
    "Cardinal": ["a bright red crest", "a red body", "a black face mask"],
    "Blue Jay": ["a blue crest", "a black necklace", "white wing bars"],
    "Ñandú": ["long legs", "grey-brown feathers", "a long neck"],
}


@pytest.mark.slow
def test_vocab_then_prototypes_from_a_run_folder(tmp_path, capsys):
    (tmp_path / "descriptions.json").write_text(json.dumps(DESC, ensure_ascii=False))
    assert main(["vocab", "--run", str(tmp_path), "--n-atoms", "4"]) == 0
    vocab, enc = load_vocabulary(tmp_path)
    assert vocab.n_atoms == 4 and len(vocab.sentences) == 9 and enc.startswith("minilm")
    assert main(["prototypes", "--run", str(tmp_path), "--top-k", "2", "--names", "Cardinal, Blue Jay, Ñandú, Emu"]) == 0
    protos = load_prototypes(tmp_path)
    assert protos.names == ["Cardinal", "Blue Jay", "Ñandú", "Emu"] and protos.top_atoms.shape == (4, 2)
    assert np.allclose(np.linalg.norm(protos.vectors, axis=1), 1, atol=1e-5)
    assert protos.own_and_borrowed("Emu")[0] == []  # a new class borrows everything
    assert "4 lafg prototypes" in capsys.readouterr().out
    # the grounded variant: each class's own atoms first (a class with none, Emu, gets its lafg atoms)
    lafg_emu = protos.top_atoms[3].tolist()
    assert main(["prototypes", "--run", str(tmp_path), "--top-k", "2", "--variant", "grounded", "--names", "Cardinal, Blue Jay, Ñandú, Emu"]) == 0
    grounded = load_prototypes(tmp_path)
    for c, name in enumerate(DESC):
        own = grounded.own_and_borrowed(name)[0]
        assert len(own) == min(2, len(vocab.own_atoms(c))) and own == grounded.top_atoms[c].tolist()[: len(own)]
    assert grounded.top_atoms[3].tolist() == lafg_emu
    assert "4 grounded prototypes" in capsys.readouterr().out


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert main(["prototypes", "--run", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing file" in err
    (tmp_path / "descriptions.json").write_text("[1, 2]")
    assert main(["vocab", "--run", str(tmp_path)]) == 2
    assert "expected a JSON object mapping each class name to a list of sentences" in capsys.readouterr().err
    assert main(["vocab", "--run", str(tmp_path), "--n-atoms", "0"]) == 2


def test_help_lists_the_core_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "vocab" in out and "prototypes" in out
