# Sourced by scripts/test and benches/run: a virtualenv with the Python packages the tests and
# benchmarks use, and the bindery Python package of this checkout importable from it.
#
#   $bindery_venv        the virtualenv (~/.cache/bindery-venv, kept between runs)
#   PYTHONPATH           a folder holding `bindery` (bindings/python/python) with the native
#                        module built by cargo for this checkout (the dev profile, which
#                        benches/run builds optimized)
bindery_make_venv
# openapi-spec-validator and schemathesis check the gateway's OpenAPI document from outside;
# schemathesis is held to its 4.x command line (the test passes its options).
if ! "$bindery_venv/bin/python" -c 'import pyarrow, pytest, openapi_spec_validator, schemathesis' 2>/dev/null; then
    echo "bindery setup: pip install pyarrow pytest openapi-spec-validator schemathesis into $bindery_venv" >&2
    "$bindery_venv/bin/pip" install --quiet pyarrow pytest 'openapi-spec-validator>=0.7,<0.10' 'schemathesis>=4.32,<5'
fi
bindery_python_build() {
    # benches/run builds the module itself, with the benches (BINDERY_PYTHON_BUILT=1).
    if [ -z "${BINDERY_PYTHON_BUILT:-}" ]; then
        PYO3_PYTHON="$bindery_venv/bin/python" cargo build --quiet -p bindery-python
    fi
    bindery_pydir="$(mktemp -d)"
    bindery_on_exit="${bindery_on_exit:-}rm -rf '$bindery_pydir'; "
    trap 'eval "$bindery_on_exit"' EXIT
    cp -r "$bindery_root/bindings/python/python/bindery" "$bindery_pydir/"
    cp "$CARGO_TARGET_DIR/debug/lib_bindery.so" "$bindery_pydir/bindery/_bindery.so"
    export PYTHONPATH="$bindery_pydir${PYTHONPATH:+:${PYTHONPATH}}"
}
bindery_python_build
