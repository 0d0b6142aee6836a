# Sourced by the other scripts: installs what building bindery needs on a fresh Debian
# machine, skipping whatever is already there, and points cargo at a shared target folder.

set -euo pipefail

bindery_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bindery-target}"

missing=()
command -v capnp >/dev/null 2>&1 || missing+=(capnproto)   # compiles schemas/*.capnp
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
# OpenSSL for the postgres driver's TLS (native-tls) and librdkafka's.
pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev pkg-config)
# zlib for librdkafka (the kafka driver builds it from the rdkafka crate's bundled source).
pkg-config --exists zlib 2>/dev/null || missing+=(zlib1g-dev)
# The git command line, for the git driver's tests (it reads what bindery commits, and commits
# what bindery reads).
command -v git >/dev/null 2>&1 || missing+=(git)
if ((${#missing[@]})); then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "bindery setup: installing ${missing[*]} from Debian's packages" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "bindery setup: cargo is missing; install Rust (rustup) first" >&2
    exit 1
fi

# The virtualenv the tests' and benchmarks' Python packages go into, kept between runs;
# bindery_make_venv makes it when missing.
bindery_venv="$HOME/.cache/bindery-venv"
bindery_make_venv() {
    [ -x "$bindery_venv/bin/python" ] || python3 -m venv "$bindery_venv"
}
