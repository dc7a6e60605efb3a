#!/usr/bin/env python3
"""Retried appends from Python grpcio are recorded once.

A real custosd behind a TCP proxy that drops every third answer after the request reached the daemon
(the caller cannot know whether it was recorded). The client is plain grpcio with the retry service
config the README documents, and an idempotency_key on every append: every call succeeds, and the
ledger holds each event exactly once, at the index its receipt names.

Usage: run_retries.py --bin .build/debug
"""
import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_interop import ROOT, Daemon, bearer_channel, generate_stubs, issue_token  # noqa: E402

# The service config from the README ("Calling Custos from other languages").
SERVICE_CONFIG = {
    "methodConfig": [{
        "name": [{"service": "custos.v1.AuditLog"}, {"service": "custos.v1.Authorization"}, {"service": "custos.v1.Keys"}],
        "timeout": "10s",
        "retryPolicy": {
            "maxAttempts": 5, "initialBackoff": "0.05s", "maxBackoff": "2s", "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
        },
    }]
}


class DroppingProxy:
    """Forwards 127.0.0.1:<port> to the daemon. Of the daemon's answers that begin after the client sent
    something (a request reached the daemon), every third is not delivered: the connection is closed
    instead, before the caller sees any of it."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.answers = 0
        self.drops = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            state = {"asked": False}
            threading.Thread(target=self._pump, args=(client, upstream, state, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, state, True), daemon=True).start()

    def _pump(self, source, destination, state, answers):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                with self.lock:
                    if not answers:
                        state["asked"] = True
                        drop = False
                    else:
                        starts_answer, state["asked"] = state["asked"], False
                        if starts_answer:
                            self.answers += 1
                        drop = starts_answer and self.answers % 3 == 0
                        self.drops += drop
                if drop:
                    break
                destination.sendall(data)
        except OSError:
            pass
        for s in (source, destination):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build/debug"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="custos-retries-")
    generate_stubs(os.path.join(work, "gen"))
    from custos.v1 import audit_log_pb2 as pb, audit_log_pb2_grpc as rpc

    daemon = Daemon(os.path.abspath(os.path.join(args.bin, "custosd")), work)
    failed = 0
    checks = []
    try:
        admin = daemon.admin_credential()
        token = issue_token(daemon.port, admin["client_id"], admin["client_secret"])
        proxy = DroppingProxy(daemon.port)
        retrying = bearer_channel(
            proxy.port, token, options=[("grpc.enable_retries", 1), ("grpc.service_config", json.dumps(SERVICE_CONFIG))])
        log = rpc.AuditLogStub(retrying)
        run = uuid.uuid4().hex[:8]
        receipts = {}
        for i in range(200):
            event = pb.AuditEvent(kind="audit.event", actor=f'Service::"retry-{run}"', action="sync",
                                  resource=f'Customer::"{i}"', outcome="success", details=b"{}")
            receipts[i] = log.Append(pb.AppendRequest(event=event, idempotency_key=str(uuid.uuid4()))).receipt

        # The control: the same retries without a key record some events twice (at-least-once).
        for i in range(60):
            log.Append(pb.AppendRequest(event=pb.AuditEvent(
                kind="audit.event", actor=f'Service::"nokey-{run}"', action="sync", resource=f'Customer::"{i}"',
                outcome="success", details=b"{}")))

        direct = rpc.AuditLogStub(bearer_channel(daemon.port, token))
        stored = list(direct.GetEntries(pb.GetEntriesRequest(start=0)))
        entries = [e for e in stored if e.actor == f'Service::"retry-{run}"']
        unkeyed = [e for e in stored if e.actor == f'Service::"nokey-{run}"']
        by_index = {e.index: e for e in entries}
        checks = [
            (f"the proxy dropped answers ({proxy.drops})", proxy.drops >= 40),
            (f"200 appends, 200 entries ({len(entries)})", len(entries) == 200),
            ("each event once", len({e.resource for e in entries}) == 200),
            ("every receipt names its entry", all(
                i in receipts and by_index.get(r.index) is not None and by_index[r.index].leaf_hash == r.leaf_hash
                and by_index[r.index].resource == f'Customer::"{i}"' for i, r in receipts.items())),
            (f"without a key, retries record again ({len(unkeyed)} entries for 60 appends)", len(unkeyed) > 60),
        ]
        for name, ok in checks:
            print(("PASS " if ok else "FAIL ") + name)
            failed += not ok
    finally:
        daemon.stop()
    print(f"{len(checks) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
