#!/usr/bin/env python3
"""Tokens end to end from outside clients: a real custosd (authentication on), Python grpcio, PyJWT.

Issue a token over gRPC, verify it with PyJWT against the JWKS fetched over HTTP, call Check with it;
then the rejection matrix on a protected RPC; a non-admin token refused on an admin RPC with the
decision in the ledger; revocation effective on the next call.

Usage: run_tokens.py --bin .build/debug      Prints PASS/FAIL lines and "N passed, N failed".
"""
import argparse
import base64
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_interop import Daemon, bearer_channel, generate_stubs, issue_token  # noqa: E402


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/debug")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="custos-tokens-")
    generate_stubs(os.path.join(work, "gen"))
    import grpc
    import jwt
    from custos.v1 import audit_log_pb2 as pb, audit_log_pb2_grpc as rpc
    from custos.v1 import authorization_pb2 as az, authorization_pb2_grpc as az_rpc
    from custos.v1 import tokens_pb2 as tk, tokens_pb2_grpc as tk_rpc

    os.environ["CUSTOS_TOKEN_SKEW_SECONDS"] = "0"  # so a one-second token expires within the test
    daemon = Daemon(os.path.abspath(os.path.join(args.bin, "custosd")), work, http=True)
    admin = daemon.admin_credential()
    admin_channel = bearer_channel(daemon.port, issue_token(daemon.port, admin["client_id"], admin["client_secret"]))
    admin_tokens = tk_rpc.TokensStub(admin_channel)
    results = []
    state = {}

    def check(name, fn):
        try:
            fn()
            results.append(True)
            print(f"PASS {name}")
        except Exception:
            results.append(False)
            print(f"FAIL {name}")
            traceback.print_exc()

    def expect(code, text, call):
        try:
            call()
        except grpc.RpcError as e:
            assert e.code() == code, (e.code(), e.details())
            assert text in e.details(), (text, e.details())
            return e
        raise AssertionError(f"expected {code}, the call succeeded")

    def issue_and_verify_with_pyjwt():
        created = admin_tokens.CreateClient(tk.CreateClientRequest(
            client_id="billing-worker", display_name="Billing worker", roles=['Role::"payments"'],
            audiences=["custos", "erp"], token_ttl_seconds=600))
        assert created.client_secret.startswith("cs_") and created.client.roles == ['Role::"payments"']
        state["secret"] = created.client_secret
        token = issue_token(daemon.port, "billing-worker", created.client_secret)
        state["token"] = token
        with urllib.request.urlopen(f"http://127.0.0.1:{daemon.http_port}/.well-known/jwks.json") as response:
            assert "max-age" in response.headers["Cache-Control"]
            jwks = json.load(response)
        header = jwt.get_unverified_header(token)
        assert header["alg"] == "EdDSA" and header["typ"] == "at+jwt", header
        jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
        assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519"
        claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"], audience="custos", issuer="custos")
        assert claims["sub"] == claims["client_id"] == "billing-worker", claims
        assert claims["roles"] == ['Role::"payments"'] and claims["exp"] - claims["iat"] == 600
        assert {"jti", "nbf"} <= set(claims)
        state["jti"] = claims["jti"]

    def check_as_the_caller():
        authz = az_rpc.AuthorizationStub(bearer_channel(daemon.port, state["token"]))
        # No principal: the caller, Service::"billing-worker", with its token's roles.
        answer = authz.Check(az.CheckRequest(
            action=az.EntityRef(type="Action", id="charge"), resource=az.EntityRef(type="Invoice", id="inv-9"),
            context=json.dumps({"amount_cents": 1299, "hour": 10}).encode()))
        assert answer.decision == az.CheckResponse.ALLOW, answer
        log = rpc.AuditLogStub(admin_channel)
        entry = json.loads(log.GetEntries(pb.GetEntriesRequest(start=answer.receipt.index, end=answer.receipt.index + 1)).next().canonical)
        assert entry["actor"] == 'Service::"billing-worker"' and entry["outcome"] == "allow", entry

    def rejection_matrix():
        log = lambda token: rpc.AuditLogStub(bearer_channel(daemon.port, token))  # noqa: E731
        plain = rpc.AuditLogStub(grpc.insecure_channel(f"127.0.0.1:{daemon.port}"))
        unauth = grpc.StatusCode.UNAUTHENTICATED
        request = pb.GetCheckpointRequest()
        expect(unauth, "missing authorization", lambda: plain.GetCheckpoint(request))
        expect(unauth, "malformed authorization", lambda: plain.GetCheckpoint(request, metadata=[("authorization", "Basic abc")]))
        expect(unauth, "malformed token", lambda: log("not-a-jwt").GetCheckpoint(request))
        head, body, signature = state["token"].split(".")
        # Forged: the payments service makes itself an admin.
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        claims["roles"] = ['Role::"admin"']
        forged = f"{head}.{b64url(json.dumps(claims).encode())}.{signature}"
        expect(unauth, "signature does not verify", lambda: log(forged).GetCheckpoint(request))
        # Unknown kid, and alg none.
        other = b64url(json.dumps({"alg": "EdDSA", "kid": "no-such-key", "typ": "at+jwt"}).encode())
        expect(unauth, "unknown key id", lambda: log(f"{other}.{body}.{signature}").GetCheckpoint(request))
        none = b64url(json.dumps({"alg": "none", "kid": jwt.get_unverified_header(state["token"])["kid"]}).encode())
        expect(unauth, "unsupported token algorithm", lambda: log(f"{none}.{body}.").GetCheckpoint(request))
        # A validly signed token for another audience.
        erp = issue_token(daemon.port, "billing-worker", state["secret"], audience="erp")
        expect(unauth, "not for this audience", lambda: log(erp).GetCheckpoint(request))
        # Expired: a client whose tokens live one second (the daemon allows no clock skew here).
        made = admin_tokens.CreateClient(tk.CreateClientRequest(client_id="short-lived", audiences=["custos"], token_ttl_seconds=1))
        short = issue_token(daemon.port, "short-lived", made.client_secret)
        log(short).GetCheckpoint(request)
        time.sleep(2.1)
        expect(unauth, "expired", lambda: log(short).GetCheckpoint(request))
        # Wrong secret: refused, and recorded as a failed authentication.
        expect(unauth, "invalid client credentials", lambda: issue_token(daemon.port, "billing-worker", "cs_wrong"))
        denied = [json.loads(e.canonical) for e in rpc.AuditLogStub(admin_channel).Query(pb.QueryRequest(kind="token.issue", outcome="denied"))]
        assert any(e["details"]["client_id"] == "billing-worker" for e in denied), denied

    def non_admin_refused_and_recorded():
        mine = tk_rpc.TokensStub(bearer_channel(daemon.port, state["token"]))
        e = expect(grpc.StatusCode.PERMISSION_DENIED, "custos:clients.create",
                   lambda: mine.CreateClient(tk.CreateClientRequest(client_id="sneaky", audiences=["custos"])))
        index = int(e.details().rsplit("ledger index ", 1)[1].rstrip(")"))
        entry = json.loads(rpc.AuditLogStub(admin_channel).GetEntries(pb.GetEntriesRequest(start=index, end=index + 1)).next().canonical)
        assert entry["kind"] == "authz.decision" and entry["outcome"] == "deny" and entry["details"]["admin"] is True, entry
        assert entry["actor"] == 'Service::"billing-worker"' and entry["action"] == 'Action::"custos:clients.create"', entry

    def revocation_is_effective_on_the_next_call():
        mine = rpc.AuditLogStub(bearer_channel(daemon.port, state["token"]))
        mine.GetCheckpoint(pb.GetCheckpointRequest())
        admin_tokens.Revoke(tk.RevokeRequest(jti=state["jti"]))
        expect(grpc.StatusCode.UNAUTHENTICATED, "revoked", lambda: mine.GetCheckpoint(pb.GetCheckpointRequest()))
        introspected = admin_tokens.Introspect(tk.IntrospectRequest(token=state["token"]))
        assert not introspected.active and "revoked" in introspected.reason
        # Revoking the client ends every token it holds, including fresh ones issued before.
        fresh = issue_token(daemon.port, "billing-worker", state["secret"])
        rpc.AuditLogStub(bearer_channel(daemon.port, fresh)).GetCheckpoint(pb.GetCheckpointRequest())
        time.sleep(1.1)
        admin_tokens.Revoke(tk.RevokeRequest(client_id="billing-worker"))
        expect(grpc.StatusCode.UNAUTHENTICATED, "revoked",
               lambda: rpc.AuditLogStub(bearer_channel(daemon.port, fresh)).GetCheckpoint(pb.GetCheckpointRequest()))

    def prometheus_metrics():
        with urllib.request.urlopen(f"http://127.0.0.1:{daemon.http_port}/metrics") as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            text = response.read().decode()
        assert 'custos_rpc_total{method="custos.v1.Tokens/IssueToken",code="ok"}' in text, text[:2000]
        assert 'code="unauthenticated"' in text and "custos_rpc_duration_seconds_bucket" in text
        assert "custos_root_key_unsealed 1" in text and "custos_ledger_entries " in text
        live = [line for line in text.splitlines() if line.startswith("custos_allocator_live_bytes ")]
        assert live and float(live[0].split()[1]) > 0, "the allocator's live bytes are exported and not zero"
        assert "custos_allocator_free_bytes " in text
        assert state["secret"] not in text and state["token"] not in text

    try:
        for name, fn in [("issue over gRPC, verify with PyJWT against the HTTP JWKS", issue_and_verify_with_pyjwt),
                         ("Check with the token: the caller is the principal", check_as_the_caller),
                         ("rejection matrix on a protected RPC", rejection_matrix),
                         ("non-admin token refused on an admin RPC, decision in the ledger", non_admin_refused_and_recorded),
                         ("revocation effective on the next call", revocation_is_effective_on_the_next_call),
                         ("Prometheus /metrics on the HTTP side port", prometheus_metrics)]:
            check(name, fn)
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
