#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs dependencies, builds, runs every test.
# Usage: scripts/test.sh [extra `swift test` arguments, e.g. --filter SPIFFETests]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --python
swift build --build-tests
# Serially: suites that start servers, Envoys and child processes, and CPU-bound simulator
# seeds, starve each other on a 2-core machine when run in parallel (60 s test time limits were
# hit with every suite passing on its own).
swift test --skip-build --no-parallel "$@"
