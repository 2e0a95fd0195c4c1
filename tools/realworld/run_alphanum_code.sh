#!/usr/bin/env bash
# Run alphanum-code 0.1.1's own test suite (from its PyPI sdist) many times in random order with
# pytest-randomly, one JUnit XML per run, into tests/data/realworld/alphanum_code/.
#
# alphanum-code is in Gruber et al.'s dataset of Python flaky tests; iPFlakies (Wang et al. 2022)
# reports tests/test_alphanum_code.py::test_next_code as a brittle test whose state-setter is
# test_init_code (both share a module-scoped SQLite code table). Nothing of the project is kept:
# it is installed into a throwaway venv under /tmp.
#
#   bash tools/realworld/run_alphanum_code.sh [RUNS]
set -euo pipefail
RUNS="${1:-40}"
HERE="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$HERE/tests/data/realworld/alphanum_code"
WORK="$(mktemp -d /tmp/alphanum_code.XXXXXX)"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" -q install "pytest>=8" "pytest-randomly>=3.15" "SQLAlchemy<3"
"$WORK/venv/bin/pip" -q download --no-deps --no-binary :all: alphanum-code==0.1.1 -d "$WORK"
tar -xzf "$WORK"/alphanum_code-0.1.1.tar.gz -C "$WORK"
"$WORK/venv/bin/pip" -q install --no-deps "$WORK/alphanum_code-0.1.1"
mkdir -p "$OUT"
rm -f "$OUT"/run-*.xml
cd "$WORK/alphanum_code-0.1.1"
for seed in $(seq 1 "$RUNS"); do
  rm -f tests/codes.sqlite
  # A failing run exits 1; that is the point, keep going.
  "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider -p randomly -p "no:xdist" \
    -p "randomly" --randomly-seed="$seed" --junitxml="$OUT/run-$(printf %03d "$seed").xml" \
    -o junit_family=xunit2 tests/ >/dev/null || true
done
echo "wrote $(ls "$OUT"/run-*.xml | wc -l) reports to $OUT"
rm -rf "$WORK"
