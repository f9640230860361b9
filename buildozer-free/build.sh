#!/usr/bin/env bash
# Build the DagFlux one-folder desktop bundle with PyInstaller (no buildozer involved).
#
#   bash buildozer-free/build.sh [OUT_DIR]
#
# The bundle lands in OUT_DIR/dagflux/ (default: buildozer-free/dist/dagflux/) with two
# programs: `dagflux` (the CLI and the engine) and `dagflux-app` (the desktop app). It is
# built for the machine it runs on (same OS, CPU and glibc or newer). Uses the repo's
# .venv (or $PYTHON) with DagFlux and PyInstaller installed: `bash dev setup` does both.
# Build files go to a temp dir that is removed afterwards; prints the build time and size.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
OUT=$(mkdir -p "${1:-$HERE/dist}" && cd "${1:-$HERE/dist}" && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}

if ! "$PY" -c 'import PyInstaller, app, engine, plugins' >/dev/null 2>&1; then
    echo "build.sh: $PY lacks PyInstaller or DagFlux; run 'bash dev setup'" \
         "or '$PY -m pip install -e \"$REPO[test]\"'" >&2
    exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dagflux-bundle-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Importing Kivy while the spec runs must not touch the user's ~/.kivy or open a window.
export KIVY_HOME="$WORK/kivy-home" KIVY_NO_ARGS=1 KIVY_NO_CONSOLELOG=1 KIVY_NO_FILELOG=1

start=$(date +%s)
(cd "$REPO" && "$PY" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$OUT" --workpath "$WORK/build" "$HERE/dagflux.spec")
end=$(date +%s)

BUNDLE="$OUT/dagflux"
"$BUNDLE/dagflux" --version
echo "bundle: $BUNDLE"
echo "build_time_s=$((end - start)) size_mb=$(du -sm "$BUNDLE" | cut -f1)"
