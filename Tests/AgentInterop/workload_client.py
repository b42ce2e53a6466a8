"""Real-client checks of the Lineage Workload API, driven by Tests/AgentTests.

Usage: workload_client.py MODE SOCKET_PATH [ARGS...]; prints one JSON object on stdout and
exits 0 when the client got an answer (the Swift test judges its content).

Modes:
  x509 SOCKET            py-spiffe fetch_x509_context + fetch_x509_bundles; chains verified
                         against the bundle with `cryptography`.
  jwt SOCKET AUDIENCE    py-spiffe fetch_jwt_svid, fetch_jwt_bundles, local validation with the
                         bundle (py-spiffe + PyJWT) and the agent's ValidateJWTSVID.
  status SOCKET METHOD HEADER   raw grpcio call; HEADER "yes" sends workload.spiffe.io: true.
                         Prints the gRPC status code name.
  watch SOCKET READYFILE raw FetchX509SVID stream: writes READYFILE after the first message,
                         then waits for a message with a different leaf serial.
"""
import json
import sys

import grpc
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from spiffe._proto import workload_pb2, workload_pb2_grpc


def verify_issued_by(cert, issuers):
    for issuer in issuers:
        try:
            cert.verify_directly_issued_by(issuer)
            return True
        except Exception:
            continue
    return False


def mode_x509(socket):
    from spiffe import WorkloadApiClient

    with WorkloadApiClient(socket_path="unix://" + socket, default_timeout=30) as client:
        context = client.fetch_x509_context()
        bundles = client.fetch_x509_bundles()
    out = {"svids": [], "bundles": {}}
    for bundle in bundles.bundles:
        out["bundles"][str(bundle.trust_domain)] = len(bundle.x509_authorities)
    for svid in context.x509_svids:
        td = svid.spiffe_id.trust_domain
        bundle = context.x509_bundle_set.get_bundle_for_trust_domain(td)
        chain = svid.cert_chain
        ok = bundle is not None
        # Each certificate is issued by the next one; the last by a bundle authority.
        for child, parent in zip(chain, chain[1:]):
            ok = ok and verify_issued_by(child, [parent])
        ok = ok and verify_issued_by(chain[-1], list(bundle.x509_authorities))
        out["svids"].append({
            "id": str(svid.spiffe_id),
            "chain": len(chain),
            "verified": ok,
            "serial": format(svid.leaf.serial_number, "x"),
            "key_matches": svid.private_key.public_key().public_numbers()
            == svid.leaf.public_key().public_numbers(),
        })
    print(json.dumps(out))


def mode_jwt(socket, audience):
    from spiffe import JwtSvid, WorkloadApiClient

    with WorkloadApiClient(socket_path="unix://" + socket, default_timeout=30) as client:
        svid = client.fetch_jwt_svid(audience={audience})
        bundles = client.fetch_jwt_bundles()
        bundle = bundles.get_bundle_for_trust_domain(svid.spiffe_id.trust_domain)
        local = JwtSvid.parse_and_validate(svid.token, bundle, {audience})
        remote = client.validate_jwt_svid(svid.token, audience)
        try:
            client.validate_jwt_svid(svid.token, audience + "-other")
            wrong_audience = "accepted"
        except Exception as error:  # noqa: BLE001 - report whatever the client raised
            wrong_audience = type(error).__name__ + ": " + str(error)
    print(json.dumps({
        "id": str(svid.spiffe_id),
        "local_id": str(local.spiffe_id),
        "remote_id": str(remote.spiffe_id),
        "audience": sorted(local.audience),
        "wrong_audience": wrong_audience,
    }))


def mode_status(socket, method, header):
    channel = grpc.insecure_channel("unix:" + socket)
    stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(channel)
    metadata = [("workload.spiffe.io", "true")] if header == "yes" else []
    try:
        if method == "FetchX509SVID":
            next(iter(stub.FetchX509SVID(workload_pb2.X509SVIDRequest(), metadata=metadata, timeout=30)))
        elif method == "FetchJWTSVID":
            stub.FetchJWTSVID(workload_pb2.JWTSVIDRequest(audience=["a"]), metadata=metadata, timeout=30)
        else:
            raise SystemExit("unknown method " + method)
        print(json.dumps({"code": "OK"}))
    except grpc.RpcError as error:
        print(json.dumps({"code": error.code().name, "details": error.details()}))


def mode_watch(socket, ready_file):
    channel = grpc.insecure_channel("unix:" + socket)
    stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(channel)
    stream = stub.FetchX509SVID(
        workload_pb2.X509SVIDRequest(), metadata=[("workload.spiffe.io", "true")], timeout=20)
    serials = []
    for response in stream:
        leaf = x509.load_der_x509_certificate(response.svids[0].x509_svid)
        serials.append(format(leaf.serial_number, "x"))
        if len(serials) == 1:
            with open(ready_file, "w") as handle:
                handle.write("ready\n")
        elif serials[-1] != serials[0]:
            break
    stream.cancel()
    print(json.dumps({"serials": serials}))


def main():
    mode, socket, *rest = sys.argv[1:]
    if mode == "x509":
        mode_x509(socket)
    elif mode == "jwt":
        mode_jwt(socket, *rest)
    elif mode == "status":
        mode_status(socket, *rest)
    elif mode == "watch":
        mode_watch(socket, *rest)
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
