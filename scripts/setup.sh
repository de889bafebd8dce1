#!/usr/bin/env bash
# Set up (or update) the project environment in .venv from the lock file. Idempotent: a second run only
# checks that the installed set still matches requirements/lock.txt.
# With --with-photos it also fetches the default dataset's reference photos into data/ (tracked by data.dvc)
# from pinned Debian packages (apt-get download; no install), once.
# Usage: scripts/setup.sh [--with-photos]
set -euo pipefail
with_photos=0
for arg in "$@"; do
  case "$arg" in
    --with-photos) with_photos=1 ;;
    *) echo "setup: unknown option $arg (usage: scripts/setup.sh [--with-photos])" >&2; exit 2 ;;
  esac
done
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
# Debian packages are fetched by name (photos, BRISQUE's model files in opencv-data) or installed (PostgreSQL
# for the registry tests): refresh the package lists once on a fresh machine (as root)
if [ "$(id -u)" = 0 ] && ! find /var/lib/apt/lists -maxdepth 1 -type f ! -name lock 2>/dev/null | grep -q .; then
  echo "setup: apt-get update (package lists are empty)" >&2
  apt-get update -qq
fi
# PostgreSQL for the registry tests' MLflow server (installed when root and apt-get are there; see the script)
scripts/install-services.sh
if [ "$with_photos" = 1 ]; then
  .venv/bin/mobileiqa fetch-photos --out data --cache .cache/debs
fi
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch, timm; print(f"torch {torch.__version__}, timm {timm.__version__}")'))" >&2
