#!/usr/bin/env bash
# Serve examples/hello.py on http://127.0.0.1:8000 with uvicorn, from the project's .venv.
# Extra arguments go to uvicorn (for example --reload).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh

python=$(find_python 3.11) || {
  echo "serve.sh: Python 3.11 not found (tried pyenv, python3.11, python3)"
  exit 1
}
ensure_venv .venv "$python"
exec .venv/bin/uvicorn examples.hello:app --host 127.0.0.1 --port 8000 "$@"
