#!/usr/bin/env bash
# Set up (or update) the project environment in .venv from the lock file. Idempotent: a second run only
# checks that the installed set still matches requirements/lock.txt.
# Usage: scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DVC_NO_ANALYTICS=1 PIP_DISABLE_PIP_VERSION_CHECK=1
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.mobileiqa-lock.sha256
want=$(sha256sum requirements/lock.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing requirements/lock.txt into .venv (first run: ~4 minutes)" >&2
  .venv/bin/pip install -q -r requirements/lock.txt 2> >(grep -v "^WARNING: Location" >&2)
  .venv/bin/pip install -q --no-deps --no-build-isolation -e . 2> >(grep -v "^WARNING: Location" >&2)
  .venv/bin/pip check
  echo "$want" > "$stamp"
fi
# DVC needs a git repository; a fresh clone has one, a source tarball may not.
if [ ! -d .git ]; then
  echo "setup: not a git checkout; DVC stages need one (git init && git add -A && git commit)" >&2
fi
.venv/bin/dvc config --local core.analytics false >/dev/null 2>&1 || true
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch, timm; print(f"torch {torch.__version__}, timm {timm.__version__}")'))" >&2
