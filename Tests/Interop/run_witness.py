#!/usr/bin/env python3
"""Witness cosignatures checked by an independent implementation of the C2SP specs.

A real `custos witness` and a real custosd sending it checkpoints. The cosignature on the checkpoint the
daemon serves is verified here from c2sp.org/tlog-cosignature and c2sp.org/signed-note alone, with
`cryptography`; a rollback submitted to the witness gets 409 Conflict with the size it holds.

Usage: run_witness.py --bin .build/debug
"""
import argparse
import base64
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_interop import ROOT, Daemon, bearer_channel, generate_stubs, issue_token  # noqa: E402


def parse_vkey(vkey, algorithm):
    """name+hex(key id)+base64(algorithm byte || 32-byte Ed25519 key), checked."""
    name, key_id, blob = vkey.split("+", 2)
    raw = base64.b64decode(blob)
    assert raw[0] == algorithm and len(raw) == 33, vkey
    expected = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    assert bytes.fromhex(key_id) == expected, "key id"
    return name, expected, raw[1:]


def verify_note(note, log_vkey, witness_vkey):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    body, _, signatures = note.partition("\n\n")
    body += "\n"
    log_name, log_id, log_key = parse_vkey(log_vkey, 0x01)
    w_name, w_id, w_key = parse_vkey(witness_vkey, 0x04)
    log_ok = cosigned = None
    for line in signatures.splitlines():
        m = re.fullmatch("\u2014 (\\S+) (\\S+)", line)
        if not m:
            continue
        blob = base64.b64decode(m.group(2))
        if m.group(1) == log_name and blob[:4] == log_id:
            Ed25519PublicKey.from_public_bytes(log_key).verify(blob[4:], body.encode())
            log_ok = True
        if m.group(1) == w_name and blob[:4] == w_id and len(blob) == 4 + 8 + 64:
            timestamp = int.from_bytes(blob[4:12], "big")
            message = f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()
            Ed25519PublicKey.from_public_bytes(w_key).verify(blob[12:], message)
            assert abs(timestamp - time.time()) < 600, "timestamp is now"
            cosigned = timestamp
    return log_ok, cosigned


def post(url, body):
    request = urllib.request.Request(url + "/add-checkpoint", data=body.encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers.get("Content-Type"), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read().decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build/debug"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="custos-witness-")
    generate_stubs(os.path.join(work, "gen"))
    from custos.v1 import audit_log_pb2 as pb, audit_log_pb2_grpc as rpc

    results = []

    def check(name, ok):
        print(("PASS " if ok else "FAIL ") + name)
        results.append(bool(ok))

    daemon = Daemon(os.path.abspath(os.path.join(args.bin, "custosd")), os.path.join(work, "node"))
    admin = daemon.admin_credential()
    token = issue_token(daemon.port, admin["client_id"], admin["client_secret"])
    log_vkey = rpc.AuditLogStub(bearer_channel(daemon.port, token)).GetVerifierKey(pb.GetVerifierKeyRequest()).verifier_key
    daemon.stop()

    witness_log = open(os.path.join(work, "witness.log"), "w")
    witness = subprocess.Popen(
        [os.path.join(args.bin, "custos"), "witness", "--listen", "127.0.0.1:0", "--name", "witness.interop/w1",
         "--key-file", os.path.join(work, "witness.key"), "--state-file", os.path.join(work, "witness.json"), "--log", log_vkey],
        stdout=witness_log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        text = ""
        while time.time() < deadline:
            text = open(os.path.join(work, "witness.log")).read()
            if "witness key: " in text and "witness listening on 127.0.0.1:" in text:
                break
            time.sleep(0.05)
        witness_vkey = re.search(r"witness key: (\S+)", text).group(1)
        url = "http://127.0.0.1:" + re.search(r"witness listening on 127\.0\.0\.1:(\d+)", text).group(1)

        os.environ["CUSTOS_WITNESSES"] = f"{url} {witness_vkey}"
        daemon = Daemon(os.path.abspath(os.path.join(args.bin, "custosd")), os.path.join(work, "node"))
        token = issue_token(daemon.port, admin["client_id"], admin["client_secret"])
        log = rpc.AuditLogStub(bearer_channel(daemon.port, token))
        first = log.GetCheckpoint(pb.GetCheckpointRequest())
        for i in range(10):
            log.Append(pb.AppendRequest(event=pb.AuditEvent(
                kind="audit.event", actor='Service::"w"', action="a", resource=f'R::"{i}"', outcome="ok", details=b"{}")))
        cosigned = None
        for _ in range(100):
            checkpoint = log.GetCheckpoint(pb.GetCheckpointRequest())
            log_ok, cosigned = verify_note(checkpoint.signed_note, log_vkey, witness_vkey)
            if cosigned:
                break
            time.sleep(0.1)
        check("the log's signature verifies (signed-note, Ed25519)", log_ok)
        check("the witness's cosignature verifies (tlog-cosignature v1, timestamped Ed25519)", cosigned)

        # A rollback: the older checkpoint, claiming the witness holds its size.
        status, content_type, body = post(url, f"old {first.size}\n\n{first.signed_note}")
        check(f"a rollback is refused with 409 and the size held ({status} {content_type} {body.strip()})",
              status == 409 and content_type == "text/x.tlog.size" and int(body) == checkpoint.size)
        status, _, _ = post(url, f"old 0\n\n{first.signed_note.replace(log_vkey.split('+')[0], 'unknown.example/log', 1)}")
        check(f"an unknown log is refused with 404 ({status})", status == 404)
        daemon.stop()
    finally:
        witness.terminate()
        witness.wait(timeout=30)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
