#!/usr/bin/env bash
# Set up copyscope in ./.venv (once; again whenever pyproject.toml changes), then run the study or the tests.
#   bash scripts/run.sh repro [dvc repro args]   # the whole study at the scale params.yaml names
#   bash scripts/run.sh test [pytest args]       # the test suite
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  if ! "$python" -m venv .venv 2>/dev/null; then
    rm -rf .venv  # no ensurepip (e.g. Debian without python3-venv): fall back to virtualenv from pip
    "$python" -m pip install --quiet --user virtualenv
    "$python" -m virtualenv --quiet .venv
  fi
fi
stamp=".venv/.installed-$(cksum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet -e ".[cpu,dev]"
  # The kernel every notebook names; papermill fails with NoSuchKernel without it.
  .venv/bin/python -m ipykernel install --sys-prefix --name copyscope --display-name "Python (copyscope)" >/dev/null
  rm -f .venv/.installed-*
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"

case "${1:-}" in
  repro) shift; exec dvc repro "$@" ;;
  test) shift; exec python -m pytest "$@" ;;
  *) echo "usage: bash scripts/run.sh {repro|test} [args]" >&2; exit 2 ;;
esac
