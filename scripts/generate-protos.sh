#!/usr/bin/env bash
# Regenerates every committed Swift file that comes from proto/: the external wire APIs
# (Workload API, Envoy SDS subset, gRPC health, Lineage's own APIs) into Sources/Wire/Generated.
# The generated code is committed so that a normal build never needs protoc or the plugins.
#
# The plugins are built once from the Swift package mirror into .build-protoc/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=.build-protoc
PLUGINS=$TOOLS/grpc-swift-protobuf
if [ ! -d "$PLUGINS" ]; then
  mkdir -p "$TOOLS"
  git clone -q https://github.com/grpc/grpc-swift-protobuf.git "$PLUGINS"
  git -C "$PLUGINS" checkout -q 2.4.1
fi
(cd "$PLUGINS" && swift build -c release --product protoc-gen-grpc-swift-2 >/dev/null \
  && swift build -c release --product protoc-gen-swift >/dev/null)
BIN=$(cd "$PLUGINS" && swift build -c release --show-bin-path)

command -v protoc >/dev/null || scripts/setup.sh

generate() {  # generate OUTPUT_DIR VISIBILITY GRPC(yes|no) PROTO_FILES...
  local out=$1 visibility=$2 grpc=$3; shift 3
  rm -rf "$out"
  mkdir -p "$out"
  protoc -I proto -I /usr/include \
    --plugin=protoc-gen-swift="$BIN/protoc-gen-swift" \
    --swift_out="$out" --swift_opt=Visibility="$visibility" --swift_opt=FileNaming=PathToUnderscores \
    "$@"
  if [ "$grpc" = yes ]; then
    protoc -I proto -I /usr/include \
      --plugin=protoc-gen-grpc-swift-2="$BIN/protoc-gen-grpc-swift-2" \
      --grpc-swift-2_out="$out" --grpc-swift-2_opt=Visibility="$visibility" \
      --grpc-swift-2_opt=FileNaming=PathToUnderscores \
      "$@"
    # The gRPC plugin writes a file for every proto, with or without a service: drop the empty ones.
    grep -L "ServiceDescriptor" "$out"/*.grpc.swift | xargs -r rm --
  fi
}

generate Sources/Wire/Generated Public yes \
  $(cd proto && find spiffe envoy grpc google spire lineage/api -name '*.proto' | sort | sed 's|^|proto/|' | sed 's|^proto/||')
echo "generated: $(find Sources/Wire/Generated -name '*.swift' | wc -l) files in Sources/Wire/Generated"
