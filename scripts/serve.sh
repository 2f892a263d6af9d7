#!/usr/bin/env bash
# Serve examples/hello.py on http://127.0.0.1:8000 with uvicorn, from the project's .venv.
# Extra arguments go to uvicorn (for example --reload).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh

python=$(find_main_python) || {
  echo "serve.sh: no Python 3.11 or newer found (tried pyenv, python3.X, python3, python)"
  exit 1
}
ensure_venv .venv "$python"
exec .venv/bin/uvicorn examples.hello:app --host 127.0.0.1 --port 8000 "$@"
