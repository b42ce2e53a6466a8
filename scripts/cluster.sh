#!/usr/bin/env bash
# Three Lineage servers in one cluster on loopback (docs/ha.md):
#   1. installs what is missing and builds lineage-server (debug build, shared with the tests);
#   2. makes an upstream root CA with openssl (the pre-shared bundle every member trusts);
#   3. writes s1..s3 configs under .data/cluster (TLS ports 8091/8101/8111, admin sockets in
#      /tmp/lineage-cluster-$UID) and starts the three servers;
#   4. waits for a leader, registers an entry on one member and shows it on every member;
#   5. SIGKILLs the leader, registers another entry on a survivor, restarts the killed member
#      and shows that it caught up;
#   6. keeps the cluster running until Ctrl-C, printing commands to try.
# `scripts/cluster.sh --exit` stops after step 5.
set -euo pipefail
cd "$(dirname "$0")/.."
EXIT_AT_END=false
[[ "${1:-}" == "--exit" ]] && EXIT_AT_END=true

scripts/setup.sh
swift build --product lineage-server
BIN=$(swift build --show-bin-path)

ROOT=$PWD/.data/cluster
RUN=/tmp/lineage-cluster-$UID
rm -rf "$ROOT" "$RUN"
mkdir -p "$ROOT" "$RUN"
NAMES=(s1 s2 s3)
PORTS=(8091 8101 8111)
TD=example.org

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -keyout "$ROOT/upstream.key" -out "$ROOT/upstream.pem" -subj "/O=Example/CN=Lineage Cluster Upstream Root" \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

for i in 0 1 2; do
    name=${NAMES[$i]}
    peers=()
    for j in 0 1 2; do
        [[ $j == "$i" ]] || peers+=("\"${NAMES[$j]}=127.0.0.1:${PORTS[$j]}\"")
    done
    mkdir -p "$ROOT/$name"
    cat > "$ROOT/$name.conf" <<CONF
server {
    bind_address = "127.0.0.1"
    bind_port = "${PORTS[$i]}"
    socket_path = "$RUN/$name.sock"
    trust_domain = "$TD"
    data_dir = "$ROOT/$name"
    log_level = "INFO"
    cluster {
        node_name = "$name"
        peers = [$(IFS=,; echo "${peers[*]}")]
    }
}
health_checks {
    listener_enabled = true
    bind_address = "127.0.0.1"
    bind_port = "$((PORTS[i] + 1))"
}
plugins {
    KeyManager "disk" { plugin_data { keys_path = "$ROOT/$name/keys.json" } }
    NodeAttestor "join_token" { plugin_data {} }
    UpstreamAuthority "disk" {
        plugin_data {
            cert_file_path = "$ROOT/upstream.pem"
            key_file_path = "$ROOT/upstream.key"
        }
    }
}
CONF
done

declare -A PID
cleanup() {
    for pid in "${PID[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

start() {  # start NAME
    "$BIN/lineage-server" run -config "$ROOT/$1.conf" >> "$ROOT/$1.log" 2>&1 &
    PID[$1]=$!
}

cli() { "$BIN/lineage-server" "$@"; }

wait_healthy() {  # wait_healthy NAME
    for _ in $(seq 1 600); do
        if [[ -S "$RUN/$1.sock" ]] && cli healthcheck -socketPath "$RUN/$1.sock" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "${PID[$1]}" 2>/dev/null; then
            echo "lineage-server $1 exited; its log:" >&2; tail -20 "$ROOT/$1.log" >&2; exit 1
        fi
        sleep 0.1
    done
    echo "lineage-server $1 not healthy after 60 s; its log:" >&2; tail -20 "$ROOT/$1.log" >&2; exit 1
}

leader() {  # prints the name of the member that leads, per `cluster status` on NAME
    cli cluster status -socketPath "$RUN/$1.sock" -output json 2>/dev/null \
        | python3 -c 'import json,sys; s = json.load(sys.stdin); print(s.get("leaderName") or s.get("leader_name") or "")'
}

echo "== starting s1, s2, s3 (logs: $ROOT/s?.log)"
for name in "${NAMES[@]}"; do start "$name"; done
for name in "${NAMES[@]}"; do wait_healthy "$name"; done
cli cluster status -socketPath "$RUN/s1.sock"

echo "== entry create on s2, entry show on every member"
cli entry create -socketPath "$RUN/s2.sock" -parentID "spiffe://$TD/agent" \
    -spiffeID "spiffe://$TD/web" -selector "unix:uid:$UID"
for name in "${NAMES[@]}"; do
    echo "-- $name:"; cli entry show -socketPath "$RUN/$name.sock" -spiffeID "spiffe://$TD/web" | grep "SPIFFE ID"
done

LEADER=$(leader s1)
echo "== SIGKILL of the leader ($LEADER)"
kill -KILL "${PID[$LEADER]}"
wait "${PID[$LEADER]}" 2>/dev/null || true
SURVIVOR=s1; [[ $LEADER == s1 ]] && SURVIVOR=s2
for _ in $(seq 1 100); do
    if cli entry create -socketPath "$RUN/$SURVIVOR.sock" -parentID "spiffe://$TD/agent" \
        -spiffeID "spiffe://$TD/api" -selector "unix:uid:$UID" >/dev/null 2>&1; then break; fi
    sleep 0.1
done
cli entry show -socketPath "$RUN/$SURVIVOR.sock" -spiffeID "spiffe://$TD/api" | grep "SPIFFE ID"
echo "== restarting $LEADER; it catches up"
start "$LEADER"
wait_healthy "$LEADER"
for _ in $(seq 1 100); do
    if cli entry show -socketPath "$RUN/$LEADER.sock" -spiffeID "spiffe://$TD/api" 2>/dev/null | grep -q "SPIFFE ID"; then break; fi
    sleep 0.1
done
cli entry show -socketPath "$RUN/$LEADER.sock" -spiffeID "spiffe://$TD/api" | grep "SPIFFE ID"
cli cluster status -socketPath "$RUN/$LEADER.sock"

$EXIT_AT_END && exit 0
cat <<EOF

The cluster keeps running until Ctrl-C. Try:
  $BIN/lineage-server cluster status -socketPath $RUN/s1.sock
  $BIN/lineage-server entry show -socketPath $RUN/s3.sock
  $BIN/lineage-server bundle show -socketPath $RUN/s2.sock
An agent can list every member: server_address = "127.0.0.1:8091,127.0.0.1:8101,127.0.0.1:8111"
EOF
wait
