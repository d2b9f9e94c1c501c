"""The layering of ``lafg/`` stays true: no import cycles, the library never reaches for its shells, and the shells
(app, CLI) use the library only through its public names.

Every import counts, the ones inside functions too (a lazy import is still a dependency). ``from pkg import mod``
is an edge to the submodule ``pkg.mod``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lafg

ROOT = Path(lafg.__file__).resolve().parent
SHELLS = ("lafg.app", "lafg.cli", "lafg.__main__")  # `python -m lafg` is the CLI


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, str]]:
    """(imported module, imported name or '') of every import statement in the module, at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.append((sub, "") if sub in known else (mod, a.name))
    return out


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {m: {t for t, _ in imports(m, p, known) if t in known and t != m} for m, p in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def shell_of(name: str) -> str | None:
    """The shell a module belongs to (``lafg.__main__`` is the CLI's), or None for the library."""
    shell = next((s for s in SHELLS if name == s or name.startswith(s + ".")), None)
    return "lafg.cli" if shell == "lafg.__main__" else shell


def is_shell(name: str) -> bool:
    return shell_of(name) is not None


def violations(root: Path = ROOT) -> list[str]:
    """Every broken rule, one line each (empty when the layering holds)."""
    known = modules(root)
    found = [f"import cycle: {' ↔ '.join(c)}" for c in cycles(graph(root))]
    for name, path in known.items():
        for target, imported in imports(name, path, known):
            top = target.split(".")[0]
            if not is_shell(name):
                if is_shell(target) or top in ("benchmarks", "tests"):
                    found.append(f"library module {name} imports {target}")
                continue
            if top == "benchmarks" or top == "tests":
                found.append(f"{name} imports {target}")
            elif is_shell(target) and shell_of(target) != shell_of(name):
                found.append(f"{name} imports the other shell {target}")
            elif target.startswith("lafg.") and not is_shell(target):
                private = [p for p in target.split(".") if p.startswith("_") and p != "__init__"]
                if private or imported.startswith("_"):
                    found.append(f"{name} imports a private name of the library: {target} {imported}".rstrip())
    return found


def test_the_layering_holds():
    assert violations() == []


def test_the_check_sees_a_cycle_a_shell_import_and_a_private_name(tmp_path):
    pkg = tmp_path / "lafg"
    (pkg / "app").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "app" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from lafg import b\n")  # a lazy import still counts
    (pkg / "b.py").write_text("from lafg.a import f\nimport lafg.app\n")
    (pkg / "app" / "ui.py").write_text("from lafg.a import _secret\nimport benchmarks.ladder\n")
    found = violations(pkg)
    assert "import cycle: lafg.a ↔ lafg.b" in found
    assert "library module lafg.b imports lafg.app" in found
    assert "lafg.app.ui imports a private name of the library: lafg.a _secret" in found
    assert "lafg.app.ui imports benchmarks.ladder" in found
    assert len(found) == 4


@pytest.mark.parametrize("name", ["lafg.pipeline", "lafg.language.side", "lafg.training.loop", "lafg.retrieval.index"])
def test_the_stage_modules_are_where_the_architecture_says(name):
    assert name in modules()
