#!/usr/bin/env bash
# The whole check suite, exactly as CI runs it (.ci/run): lint, format, types, tests with branch
# coverage, the docs build, the tests again on every other Python (3.12, 3.13) this machine has,
# and the benchmark smoke run when benchmarks/run.py exists. Needs only Python 3.11+ (and, for
# the channels tests, redis-server, which it installs with apt-get when missing and run as root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh

step="setup"
site_dir=$(mktemp -d)
finish() {
  local status=$?
  rm -rf "$site_dir"
  if ((status != 0)); then
    echo
    echo "check.sh: FAILED during: $step (exit $status)"
  fi
}
trap finish EXIT

run() { # run NAME COMMAND...: print a header, then run the command
  step=$1
  shift
  printf '\n==> %s\n' "$step"
  "$@"
}

# The Redis channels tests need a real redis-server; CI machines start fresh, so install it here.
ensure_redis_server() {
  if command -v redis-server >/dev/null 2>&1; then
    return 0
  fi
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "check.sh: redis-server is missing (install the Debian package redis-server);"
    echo "          the Redis channels tests skip outside CI and fail under CI=true"
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
}
run "redis-server" ensure_redis_server

python=$(find_python 3.11) || {
  echo "check.sh: Python 3.11 not found (tried pyenv, python3.11, python3)"
  exit 1
}
ensure_venv .venv "$python"
bin=.venv/bin

run "ruff check" "$bin/ruff" check .
run "ruff format --check" "$bin/ruff" format --check .
run "mypy --strict" "$bin/mypy" --strict microasgi tests
run "pytest (3.11, coverage)" "$bin/python" -m pytest \
  --cov=microasgi --cov-branch --cov-fail-under=95 --cov-report=term-missing:skip-covered
run "mkdocs build --strict" "$bin/mkdocs" build --strict --quiet --site-dir "$site_dir"

also=()
for version in 3.12 3.13; do
  step="Python $version"
  if other=$(find_python "$version"); then
    printf '\n==> Python %s found: %s\n' "$version" "$other"
    ensure_venv ".venv-$version" "$other"
    run "pytest ($version)" ".venv-$version/bin/python" -m pytest -q
    also+=("$version")
  else
    printf '\n==> pytest (%s): skipped, Python %s not found\n' "$version" "$version"
  fi
done

if [[ -f benchmarks/run.py ]]; then
  run "benchmarks --smoke" "$bin/python" benchmarks/run.py --smoke
fi

echo
echo "check.sh: all checks passed (Python 3.11${also[*]:+; tests also on ${also[*]}})"
