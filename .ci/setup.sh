#!/usr/bin/env bash
# Idempotent set-up of a fresh clone: a virtual environment in .venv holding gnneval,
# every plugin distribution under plugins/, and the test tools.
#
# torch is installed first and pinned, so that pip does not pick a multi-GB CUDA build where a
# CPU one fits: set GNNEVAL_TORCH to choose another (for example
# GNNEVAL_TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
"$VPY" -m pip install -q --disable-pip-version-check --upgrade pip
if ! "$VPY" -c "import torch" 2>/dev/null; then
  # shellcheck disable=SC2086
  "$VPY" -m pip install -q --disable-pip-version-check ${GNNEVAL_TORCH:-torch==2.13.0}
fi
# A stale gnneval.egg-info from an older checkout would shadow the entry points being installed.
rm -rf gnneval.egg-info
args=(-e ".[test]")
for p in plugins/*/pyproject.toml; do
  args+=(-e "$(dirname "$p")")
done
"$VPY" -m pip install -q --disable-pip-version-check "${args[@]}"
# A real browser for the report test (tests/test_report.py skips, saying why, where there is none).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "setup: could not install chromium; the browser test of report.html will be skipped"
fi
"$VPY" -c "import torch, torch_geometric, gnneval; print('gnneval', gnneval.__version__, '| torch', torch.__version__, '| torch_geometric', torch_geometric.__version__)"
