#!/usr/bin/env bash
# Install everything the tests need, then run them all.
# This is the README's second quick-start command, and .ci/run calls it.
#   bash tests/run.sh              # everything
#   bash tests/run.sh -k recipe    # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
# ruff, mypy and pre-commit (the dependency group `dev`): the checks .pre-commit-config.yaml runs.
.venv/bin/python -m pip install -q --group dev

# Real parts, not mocks: tmux, a Docker engine, PostgreSQL, Redis, nginx.
bash tests/support/system-deps.sh

set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
# pytest's "no tests collected" (5) is a failure here: a test run that ran nothing proves nothing.
exit "$status"
