"""Execute ``docs/tutorial.py`` cell by cell and write ``docs/tutorial.md`` (code, then its printed output).

    python docs/render_tutorial.py            # rewrites docs/tutorial.md
    python docs/render_tutorial.py OUT.md     # elsewhere (the test does this)
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "tutorial.py"
_CELL = re.compile(r"^# %%(?: \[(markdown)\])?\s*$", re.M)


def cells(text: str) -> list[tuple[str, str]]:
    """(kind, body) pairs: kind is "markdown" or "code"."""
    parts = _CELL.split(text)
    out = []
    for i in range(1, len(parts), 2):
        kind = "markdown" if parts[i] == "markdown" else "code"
        body = parts[i + 1].strip("\n")
        if kind == "markdown":
            body = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines())
        if body.strip():
            out.append((kind, body))
    return out


def render(source: Path = SOURCE) -> str:
    """Run every code cell in one namespace; raise on the first failing cell (so a test sees it)."""
    namespace = {"__file__": str(source), "__name__": "__tutorial__"}
    md = []
    for kind, body in cells(source.read_text(encoding="utf-8")):
        if kind == "markdown":
            md.append(body)
            continue
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(body, str(source), "exec"), namespace)  # noqa: S102 (our own tutorial, by design)
        md.append(f"```python\n{body}\n```")
        if buf.getvalue().strip():
            md.append(f"```text\n{buf.getvalue().rstrip()}\n```")
    return "\n\n".join(md) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "tutorial.md"
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
