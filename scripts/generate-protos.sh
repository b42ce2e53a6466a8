#!/usr/bin/env bash
# Regenerates every committed Swift file that comes from proto/:
#   - the identity log's event schema (proto/lineage/identity) → Sources/IdentityModel/Generated,
#     internal types that EventCodec maps to Swift values;
#   - the external wire APIs (Workload API, Envoy SDS subset, gRPC health, SPIRE's server API,
#     Lineage's own APIs) → Sources/Wire/Generated, public, with gRPC stubs;
#   - etcd's KV.Put subset for the replication benchmark → bench/replication/Generated.
# Generation is deterministic: running this on a clean tree leaves `git status` clean. The
# generated code is committed so that a normal build never needs protoc or the plugins.
#
# Both plugins are built once from grpc-swift-protobuf 2.4.1 (which pins swift-protobuf) into
# .build-protoc/ (git-ignored); the swift-protobuf plugin must match the runtime Package.swift pins.
set -euo pipefail
cd "$(dirname "$0")/.."

SWIFT_PROTOBUF_VERSION="1.39.0"
TOOLS=.build-protoc
PLUGINS=$TOOLS/grpc-swift-protobuf
if [ ! -d "$PLUGINS" ]; then
  mkdir -p "$TOOLS"
  git clone -q https://github.com/grpc/grpc-swift-protobuf.git "$PLUGINS"
  git -C "$PLUGINS" -c advice.detachedHead=false checkout -q 2.4.1
fi
(cd "$PLUGINS" && swift build -c release --product protoc-gen-grpc-swift-2 >/dev/null \
  && swift build -c release --product protoc-gen-swift >/dev/null)
BIN=$(cd "$PLUGINS" && swift build -c release --show-bin-path)
if [[ "$("$BIN/protoc-gen-swift" --version)" != *"$SWIFT_PROTOBUF_VERSION"* ]]; then
  echo "error: $BIN/protoc-gen-swift is not swift-protobuf $SWIFT_PROTOBUF_VERSION" >&2
  exit 1
fi

command -v protoc >/dev/null || scripts/setup.sh

generate() {  # generate OUTPUT_DIR VISIBILITY FILE_NAMING GRPC(yes|no) PROTO_FILES...
  local out=$1 visibility=$2 naming=$3 grpc=$4; shift 4
  rm -rf "$out"
  mkdir -p "$out"
  protoc -I proto -I /usr/include \
    --plugin=protoc-gen-swift="$BIN/protoc-gen-swift" \
    --swift_out="$out" --swift_opt=Visibility="$visibility" --swift_opt=FileNaming="$naming" \
    "$@"
  if [ "$grpc" = yes ]; then
    protoc -I proto -I /usr/include \
      --plugin=protoc-gen-grpc-swift-2="$BIN/protoc-gen-grpc-swift-2" \
      --grpc-swift-2_out="$out" --grpc-swift-2_opt=Visibility="$visibility" \
      --grpc-swift-2_opt=FileNaming="$naming" \
      "$@"
    # The gRPC plugin writes a file for every proto, with or without a service: drop the empty ones.
    grep -L "ServiceDescriptor" "$out"/*.grpc.swift | xargs -r rm --
  fi
  echo "generated: $(find "$out" -name '*.swift' | wc -l) files in $out"
}

protos() { (cd proto && find "$@" -name '*.proto' | LC_ALL=C sort); }

generate Sources/IdentityModel/Generated Internal DropPath no $(protos lineage/identity)
generate Sources/Wire/Generated Public PathToUnderscores yes $(protos spiffe envoy grpc google spire lineage/api)
# The replication benchmark's etcd client (a KV.Put subset), private to bench/replication.
generate bench/replication/Generated Internal PathToUnderscores yes $(protos bench)
