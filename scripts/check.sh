#!/usr/bin/env bash
# The whole check suite, exactly as CI runs it (.ci/run): lint, format, types, tests with branch
# coverage (the end-to-end servers included), the docs build with the API reference, the tests
# again on every other Python (3.12, 3.13) this machine has, and the benchmark smoke run when
# benchmarks/run.py exists. Needs only a Python 3.11 or newer: 3.11 is preferred, else the
# newest one found; and, for the channels tests, redis-server, and for the playground's browser
# tests, chromium and chromium-driver, which it installs with apt-get when missing and run as root.
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

# The playground's browser tests (tests/browser) drive Debian's headless Chromium with selenium.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    return 0
  fi
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "check.sh: chromium or chromedriver is missing (install the Debian packages chromium and"
    echo "          chromium-driver); the browser tests skip outside CI and fail under CI=true"
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
}
run "chromium" ensure_chromium

python=$(find_main_python) || {
  echo "check.sh: no Python 3.11 or newer found (tried pyenv, python3.X, python3, python)"
  exit 1
}
main_version=$(python_version "$python")
ensure_venv .venv "$python"
bin=.venv/bin

run "ruff check" "$bin/ruff" check .
run "ruff format --check" "$bin/ruff" format --check .
run "mypy --strict" "$bin/mypy" --strict microasgi tests
run "pytest ($main_version, coverage)" "$bin/python" -m pytest \
  --cov=microasgi --cov-branch --cov-fail-under=95 --cov-report=term-missing:skip-covered
# The attack tests again with asserts stripped, as `python -O` would run the app (pytest still
# rewrites the tests' own asserts; the warning that other asserts are ignored is expected).
run "pytest tests/security (PYTHONOPTIMIZE=1)" env PYTHONOPTIMIZE=1 "$bin/python" -m pytest \
  tests/security -q -W "ignore::pytest.PytestConfigWarning"
run "mkdocs build --strict" "$bin/mkdocs" build --strict --quiet --site-dir "$site_dir"

also=()
for version in 3.12 3.13; do
  step="Python $version"
  if [[ $version == "$main_version" ]]; then
    continue
  fi
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
echo "check.sh: all checks passed (Python $main_version${also[*]:+; tests also on ${also[*]}})"
