#!/usr/bin/env bash
# Every check in one command, on a fresh machine too: makes the virtual environment, installs
# the project with its dev tools, then lint, format, types and the whole test suite (slow tests
# included). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --progress-bar off -e '.[dev]'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
