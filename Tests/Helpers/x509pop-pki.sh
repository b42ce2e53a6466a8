#!/bin/sh
# Usage: x509pop-pki.sh DIR
# Writes an x509pop test PKI into DIR with openssl (an independent implementation):
#   node-ca.pem/.key            root CA, the server's ca_bundle_path
#   node-intermediate.pem/.key  intermediate CA, the agent's intermediates_path
#   node.pem/.key               node certificate (CN node-1, digitalSignature, serial 1234,
#                               URI SAN x509pop://example.org/datacenter/eu-1)
#   other-ca.pem                a CA that signed nothing of the above
set -eu
d="$1"
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > "$d/ca.ext"
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectAltName=URI:x509pop://example.org/datacenter/eu-1\n' > "$d/node.ext"
openssl req -x509 $ec -keyout "$d/node-ca.key" -out "$d/node-ca.pem" -days 2 -subj "/CN=node-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -x509 $ec -keyout "$d/other-ca.key" -out "$d/other-ca.pem" -days 2 -subj "/CN=other-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new $ec -keyout "$d/node-intermediate.key" -out "$d/node-intermediate.csr" -subj "/CN=node-intermediate" 2>/dev/null
openssl x509 -req -in "$d/node-intermediate.csr" -CA "$d/node-ca.pem" -CAkey "$d/node-ca.key" -set_serial 0x77 -days 2 \
    -extfile "$d/ca.ext" -out "$d/node-intermediate.pem" 2>/dev/null
openssl req -new $ec -keyout "$d/node.key" -out "$d/node.csr" -subj "/CN=node-1" 2>/dev/null
openssl x509 -req -in "$d/node.csr" -CA "$d/node-intermediate.pem" -CAkey "$d/node-intermediate.key" -set_serial 0x1234 \
    -days 1 -extfile "$d/node.ext" -out "$d/node.pem" 2>/dev/null
