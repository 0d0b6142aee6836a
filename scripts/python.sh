# Sourced by scripts/test and benches/run: a virtualenv with the Python packages the tests and
# benchmarks use, and the bindery Python package of this checkout importable from it.
#
#   $bindery_venv        the virtualenv (~/.cache/bindery-venv, kept between runs)
#   PYTHONPATH           a folder holding `bindery` (bindings/python/python) with the native
#                        module built by cargo for this checkout (debug, or release with
#                        BINDERY_PYTHON_PROFILE=release)
bindery_venv="$HOME/.cache/bindery-venv"
if [ ! -x "$bindery_venv/bin/python" ]; then
    python3 -m venv "$bindery_venv"
fi
if ! "$bindery_venv/bin/python" -c 'import pyarrow, pytest' 2>/dev/null; then
    echo "bindery setup: pip install pyarrow pytest into $bindery_venv" >&2
    "$bindery_venv/bin/pip" install --quiet pyarrow pytest
fi
bindery_python_build() {
    local profile="${BINDERY_PYTHON_PROFILE:-debug}" flag=""
    [ "$profile" = release ] && flag="--release"
    PYO3_PYTHON="$bindery_venv/bin/python" cargo build --quiet $flag -p bindery-python
    bindery_pydir="$(mktemp -d)"
    bindery_on_exit="${bindery_on_exit:-}rm -rf '$bindery_pydir'; "
    trap 'eval "$bindery_on_exit"' EXIT
    cp -r "$bindery_root/bindings/python/python/bindery" "$bindery_pydir/"
    cp "$CARGO_TARGET_DIR/$profile/lib_bindery.so" "$bindery_pydir/bindery/_bindery.so"
    export PYTHONPATH="$bindery_pydir${PYTHONPATH:+:${PYTHONPATH}}"
}
bindery_python_build
