# Sourced by scripts/check.sh and scripts/serve.sh: find interpreters and keep virtualenvs with
# the project installed (editable, with its test extras) up to date with pyproject.toml.

# python_version PYTHON: print its X.Y, or nothing when it does not run.
python_version() {
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

# find_python X.Y: print the path of a working Python X.Y, preferring pyenv's builds, or fail.
find_python() {
  local version=$1 candidate
  local -a candidates=()
  if command -v pyenv >/dev/null 2>&1; then
    # Newest patch release last, so it wins.
    while IFS= read -r candidate; do
      candidates=("$candidate" "${candidates[@]}")
    done < <(ls -d "$(pyenv root)"/versions/"$version".*/bin/python 2>/dev/null | sort -V)
  fi
  candidates+=("python$version")
  if [[ $version == 3.11 ]]; then
    candidates+=(python3)
  fi
  for candidate in "${candidates[@]}"; do
    if [[ $(python_version "$candidate") == "$version" ]]; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

# find_main_python: print the Python the project's .venv is made with: 3.11 when there is one
# (the oldest supported version, so the checks see what its users get), else the newest
# 3.12 or later found; fail when there is no Python 3.11+.
find_main_python() {
  local minor candidate
  for minor in 11 {20..12}; do
    if candidate=$(find_python "3.$minor"); then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  for candidate in python3 python; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

# ensure_venv DIR PYTHON: create DIR with PYTHON if missing or broken, and (re)install the
# project into it when pyproject.toml changed since the last install (a hash stamp in DIR).
ensure_venv() {
  local dir=$1 python=$2 stamp="$1/.microasgi-install-stamp" want
  if [[ $(python_version "$dir/bin/python") != "$(python_version "$python")" ]]; then
    echo "Creating $dir with $("$python" --version 2>&1)"
    rm -rf "$dir"
    "$python" -m venv "$dir"
  fi
  want=$("$dir/bin/python" -c "import hashlib, sys; print(hashlib.sha256(open('pyproject.toml', 'rb').read()).hexdigest(), sys.version)")
  if [[ ! -f $stamp || $(<"$stamp") != "$want" ]]; then
    echo "Installing microasgi[test] into $dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -e '.[test]'
    printf '%s\n' "$want" >"$stamp"
  fi
}
