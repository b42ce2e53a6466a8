#!/usr/bin/env bash
# Regenerates every committed Swift file generated from proto/**/*.proto.
#
# The plugin is built from swift-protobuf at exactly the version Package.swift pins, so the
# generated code matches the runtime library it is compiled against. Generation is
# deterministic: running this on a clean tree must leave `git status` clean.
#
# Environment:
#   PROTOC                  protoc binary (default: protoc on PATH; 3.21 is what we use)
#   PROTOC_GEN_SWIFT        use this plugin binary instead of building one
#   SWIFT_PROTOBUF_CHECKOUT an existing swift-protobuf checkout at the pinned tag to build from
set -euo pipefail

SWIFT_PROTOBUF_VERSION="1.39.0"
SWIFT_PROTOBUF_URL="https://github.com/apple/swift-protobuf.git"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

PROTOC="${PROTOC:-protoc}"
command -v "$PROTOC" >/dev/null || { echo "error: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }

plugin_is_pinned() {
    [[ -x "$1" ]] && [[ "$("$1" --version 2>/dev/null)" == *"$SWIFT_PROTOBUF_VERSION"* ]]
}

locate_plugin() {
    if [[ -n "${PROTOC_GEN_SWIFT:-}" ]]; then
        echo "$PROTOC_GEN_SWIFT"; return
    fi
    local candidates=(
        "$repo_root/.build-protoc/swift-protobuf/.build/release/protoc-gen-swift"
        "/work/tools/swift-protobuf/.build/release/protoc-gen-swift"
    )
    for candidate in "${candidates[@]}"; do
        if plugin_is_pinned "$candidate"; then echo "$candidate"; return; fi
    done
    # Build it: clone (or reuse) a checkout at the pinned tag under .build-protoc/ (git-ignored).
    local checkout="${SWIFT_PROTOBUF_CHECKOUT:-$repo_root/.build-protoc/swift-protobuf}"
    if [[ ! -d "$checkout/.git" ]]; then
        mkdir -p "$(dirname "$checkout")"
        git clone --quiet "$SWIFT_PROTOBUF_URL" "$checkout" >&2
    fi
    git -C "$checkout" -c advice.detachedHead=false checkout --quiet "$SWIFT_PROTOBUF_VERSION" >&2
    (cd "$checkout" && swift build -c release --product protoc-gen-swift >&2)
    echo "$checkout/.build/release/protoc-gen-swift"
}

plugin="$(locate_plugin)"
plugin_is_pinned "$plugin" || { echo "error: $plugin is not protoc-gen-swift $SWIFT_PROTOBUF_VERSION" >&2; exit 1; }

# IdentityModel: the event log schema. Generated types stay internal; the module exposes Swift
# value types and maps to these in EventCodec.
out="Sources/IdentityModel/Generated"
rm -rf "$out"
mkdir -p "$out"
protos=()
while IFS= read -r file; do protos+=("$file"); done < <(cd proto && find lineage/identity -name '*.proto' | LC_ALL=C sort)
"$PROTOC" \
    --plugin=protoc-gen-swift="$plugin" \
    --proto_path=proto \
    --swift_opt=Visibility=Internal \
    --swift_opt=FileNaming=DropPath \
    --swift_out="$out" \
    "${protos[@]}"

echo "generated: $(cd "$out" && ls | tr '\n' ' ')"
