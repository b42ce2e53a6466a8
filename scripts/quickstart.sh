#!/usr/bin/env bash
# The main job: a Lineage server and agent on an embedded data directory, and a workload (this
# shell's user) fetching its X.509-SVID over the Workload API.
#   1. installs what is missing and builds the package (debug build, shared with the tests);
#   2. starts `lineage-server run` (data under .data/quickstart/server, admin socket in /tmp);
#   3. generates a join token with a node alias, registers this user (`unix:uid:<uid>`) under it;
#   4. starts `lineage-agent run` with that token and the server's bundle;
#   5. fetches and prints the workload's X.509-SVID with `lineage-agent api fetch x509`;
#   6. keeps both running until Ctrl-C, printing the sockets and commands to try.
# `scripts/quickstart.sh --exit` stops after step 5 (for tests and CI).
set -euo pipefail
cd "$(dirname "$0")/.."
EXIT_AFTER_FETCH=false
[[ "${1:-}" == "--exit" ]] && EXIT_AFTER_FETCH=true

scripts/setup.sh
swift build --product lineage-server
swift build --product lineage-agent
BIN=$(swift build --show-bin-path)

ROOT=$PWD/.data/quickstart
RUN=/tmp/lineage-quickstart-$UID
rm -rf "$ROOT" "$RUN"
mkdir -p "$ROOT/server" "$ROOT/agent" "$RUN"
SERVER_SOCKET=$RUN/server.sock
AGENT_SOCKET=$RUN/agent.sock
PORT=${LINEAGE_QUICKSTART_PORT:-8081}
TD=example.org

cat > "$ROOT/server.conf" <<CONF
server {
    bind_address = "127.0.0.1"
    bind_port = "$PORT"
    socket_path = "$SERVER_SOCKET"
    trust_domain = "$TD"
    data_dir = "$ROOT/server"
    log_level = "INFO"
    ca_ttl = "24h"
    default_x509_svid_ttl = "1h"
}
plugins {
    KeyManager "disk" {
        plugin_data { keys_path = "$ROOT/server/keys.json" }
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
}
CONF

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "== starting lineage-server (log: $ROOT/server.log)"
"$BIN/lineage-server" run -config "$ROOT/server.conf" > "$ROOT/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
    "$BIN/lineage-server" healthcheck -socketPath "$SERVER_SOCKET" > /dev/null 2>&1 && break
    sleep 0.2
done
"$BIN/lineage-server" healthcheck -socketPath "$SERVER_SOCKET"

NODE=spiffe://$TD/quickstart/node
WORKLOAD=spiffe://$TD/quickstart/workload
echo "== token generate -spiffeID $NODE"
TOKEN=$("$BIN/lineage-server" token generate -spiffeID "$NODE" -socketPath "$SERVER_SOCKET" | sed -n 's/^Token: //p')
echo "== entry create -parentID $NODE -spiffeID $WORKLOAD -selector unix:uid:$(id -u)"
"$BIN/lineage-server" entry create -parentID "$NODE" -spiffeID "$WORKLOAD" -selector "unix:uid:$(id -u)" \
    -socketPath "$SERVER_SOCKET"
"$BIN/lineage-server" bundle show -socketPath "$SERVER_SOCKET" > "$ROOT/bundle.pem"

cat > "$ROOT/agent.conf" <<CONF
agent {
    data_dir = "$ROOT/agent"
    log_level = "INFO"
    server_address = "127.0.0.1"
    server_port = "$PORT"
    socket_path = "$AGENT_SOCKET"
    trust_bundle_path = "$ROOT/bundle.pem"
    trust_domain = "$TD"
}
plugins {
    NodeAttestor "join_token" {
        plugin_data {}
    }
    KeyManager "disk" {
        plugin_data { directory = "$ROOT/agent" }
    }
    WorkloadAttestor "unix" {
        plugin_data {}
    }
}
CONF

echo "== starting lineage-agent (log: $ROOT/agent.log)"
"$BIN/lineage-agent" run -config "$ROOT/agent.conf" -joinToken "$TOKEN" > "$ROOT/agent.log" 2>&1 &
PIDS+=($!)

echo "== lineage-agent api fetch x509 -socketPath $AGENT_SOCKET"
for attempt in $(seq 1 100); do
    if "$BIN/lineage-agent" api fetch x509 -socketPath "$AGENT_SOCKET" > "$ROOT/fetch.txt" 2>&1; then break; fi
    if [[ $attempt == 100 ]]; then cat "$ROOT/fetch.txt" "$ROOT/agent.log"; exit 1; fi
    sleep 0.2
done
cat "$ROOT/fetch.txt"

if $EXIT_AFTER_FETCH; then
    exit 0
fi
cat <<TEXT

Lineage is running:
  server admin socket  $SERVER_SOCKET   (agent API on 127.0.0.1:$PORT, data in $ROOT/server)
  agent Workload API   $AGENT_SOCKET
Try:
  $BIN/lineage-agent api fetch x509 -socketPath $AGENT_SOCKET -write /tmp
  $BIN/lineage-server entry show -socketPath $SERVER_SOCKET
  $BIN/lineage-server log tail -dataDir $ROOT/server
Press Ctrl-C to stop both.
TEXT
wait
