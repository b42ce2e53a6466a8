#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs dependencies, builds, runs every test.
# Usage: scripts/test.sh [extra `swift test` arguments, e.g. --filter SPIFFETests]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --python
swift build --build-tests
swift test --skip-build "$@"
