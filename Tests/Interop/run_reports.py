#!/usr/bin/env python3
"""Compliance export end to end: a real custosd (authentication on), the custos CLI, the independent
Python verifier (verify_bundle.py: hashlib, json, cryptography only) and headless Chromium.

Usage: run_reports.py --bin .build/debug      Prints PASS/FAIL lines and "N passed, N failed".
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_interop import Daemon, generate_stubs, issue_token  # noqa: E402
import verify_bundle  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/debug")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="custos-reports-")
    generate_stubs(os.path.join(work, "gen"))
    import grpc
    from custos.v1 import reports_pb2 as rp, reports_pb2_grpc as rp_rpc
    from custos.v1 import tokens_pb2 as tk, tokens_pb2_grpc as tk_rpc
    from run_interop import bearer_channel

    cli = os.path.abspath(os.path.join(args.bin, "custos"))
    daemon = Daemon(os.path.abspath(os.path.join(args.bin, "custosd")), os.path.join(work, "daemon"))
    env = dict(os.environ, CUSTOS_SERVER=f"127.0.0.1:{daemon.port}",
               CUSTOS_CREDENTIALS=os.path.join(daemon.keys_dir, "initial-admin-credential"))
    results, state = [], {}

    def custos(*arguments, check=True):
        out = subprocess.run([cli, *arguments], env=env, capture_output=True, text=True, timeout=120)
        if check and out.returncode != 0:
            raise AssertionError(f"custos {' '.join(arguments)} failed: {out.stderr}")
        return out

    def check(name, fn):
        try:
            fn()
            results.append(True)
            print(f"PASS {name}")
        except Exception:
            results.append(False)
            print(f"FAIL {name}")
            traceback.print_exc()

    def export_and_verify():
        custos("keys", "create", "billing-data")
        for hour, cents in [(10, 5000), (23, 500000), (23, 500000)]:
            custos("check", "--principal", 'Service::"billing-worker"', "--action", 'Action::"refund"', "--resource",
                   'Invoice::"inv-1"', "--context", json.dumps({"amount_cents": cents, "hour": hour}), check=False)
        wrong = os.path.join(work, "wrong-secret")
        open(wrong, "w").write("cs_not-the-secret")
        issue = custos("token", "issue", "--client-id", "admin", "--secret-file", wrong, check=False)
        assert issue.returncode != 0 and "invalid client credentials" in issue.stderr, issue.stderr  # for the report
        bundle = os.path.join(work, "bundle")
        custos("report", "export", "--from", "2020-01-01", "--to", "2100-01-01", "--out", bundle, "--tar")
        assert os.path.exists(bundle + ".tar.gz")
        key = json.loads(custos("ledger", "verifier-key", "--output", "json").stdout)["verifier_key"]
        state.update(bundle=bundle, key=key)
        out = custos("report", "verify", bundle, "--verifier-key", key)
        assert out.stdout.startswith("PASS"), out.stdout
        assert verify_bundle.verify(bundle, key) > 5
        summary = json.load(open(os.path.join(bundle, "summary.json")))
        assert summary["decisions"]["deny"] >= 2 and summary["failed_authentications"], summary
        assert any(a["kind"] == "key.create" for a in summary["admin_actions"])
        # The export itself is in the ledger.
        exports = [json.loads(line) for line in custos("ledger", "query", "--kind", "report.export", "--output", "json").stdout.splitlines()]
        assert exports, "report.export not recorded"

    def tampering_fails_in_both_verifiers():
        bundle, key = state["bundle"], state["key"]
        for name in sorted(os.listdir(bundle)):
            copy = os.path.join(work, f"tampered-{name}")
            shutil.copytree(bundle, copy)
            path = os.path.join(copy, name)
            data = bytearray(open(path, "rb").read())
            position = len(data) // 2
            while data[position] in b"\n\r":
                position += 1
            data[position] ^= 0x01
            open(path, "wb").write(bytes(data))
            out = custos("report", "verify", copy, "--verifier-key", key, check=False)
            assert out.returncode != 0 and "FAIL" in out.stdout, (name, out.stdout)
            try:
                verify_bundle.verify(copy, key)
                raise AssertionError(f"the Python verifier accepted a change in {name}")
            except (verify_bundle.Fail, Exception) as error:
                assert not isinstance(error, AssertionError), error
        # A missing file, and reordered lines, name the file (and the index).
        copy = os.path.join(work, "missing")
        shutil.copytree(bundle, copy)
        os.remove(os.path.join(copy, "proofs.json"))
        assert "proofs.json" in custos("report", "verify", copy, "--verifier-key", key, check=False).stdout
        copy = os.path.join(work, "reordered")
        shutil.copytree(bundle, copy)
        lines = open(os.path.join(copy, "entries.jsonl"), "rb").read().split(b"\n")
        lines[2], lines[3] = lines[3], lines[2]
        open(os.path.join(copy, "entries.jsonl"), "wb").write(b"\n".join(lines))
        out = custos("report", "verify", copy, "--verifier-key", key, check=False).stdout
        assert "entries.jsonl index 2" in out, out

    def bad_requests_are_refused():
        out = custos("report", "export", "--from", "2099-01-01", "--to", "2100-01-01", "--out", os.path.join(work, "future"), check=False)
        assert out.returncode != 0 and "no entries were recorded in the range" in out.stderr, out.stderr
        out = custos("report", "export", "--from", "2026-01-02", "--to", "2026-01-01", "--out", os.path.join(work, "x"), check=False)
        assert out.returncode != 0 and "before" in out.stderr, out.stderr
        out = custos("report", "export", "--from", "2020-01-01", "--to", "2100-01-01", "--kind", "nonsense", "--out", os.path.join(work, "y"), check=False)
        assert out.returncode != 0 and "unknown kind" in out.stderr, out.stderr
        out = custos("report", "export", "--from", "2020-01-01", "--to", "2100-01-01", "--out", "/proc/custos-bundle", check=False)
        assert out.returncode != 0 and "cannot create" in out.stderr, out.stderr
        out = custos("report", "export", "--from", "2020-01-01", "--to", "2100-01-01", "--out", state["bundle"], check=False)
        assert out.returncode != 0 and "not empty" in out.stderr, out.stderr
        # A non-admin caller is refused, and the decision is recorded.
        admin = daemon.admin_credential()
        tokens = tk_rpc.TokensStub(bearer_channel(daemon.port, issue_token(daemon.port, admin["client_id"], admin["client_secret"])))
        made = tokens.CreateClient(tk.CreateClientRequest(client_id="crm-sync", roles=['Role::"crm"'], audiences=["custos"]))
        reports = rp_rpc.ReportsStub(bearer_channel(daemon.port, issue_token(daemon.port, "crm-sync", made.client_secret)))
        try:
            list(reports.Export(rp.ExportRequest(from_unix_nano=0, to_unix_nano=2**62)))
            raise AssertionError("a non-admin exported")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.PERMISSION_DENIED and "custos:reports.export" in e.details(), e

    def report_renders_in_headless_chromium():
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        assert chromium, "chromium is not installed (make test installs Debian's chromium package)"
        page = "file://" + os.path.join(state["bundle"], "report.html")
        png = os.path.join(work, "report.png")
        common = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  f"--user-data-dir={os.path.join(work, 'chromium-profile')}", "--enable-logging=stderr", "--v=0"]
        shot = subprocess.run(common + ["--window-size=1200,2400", f"--screenshot={png}", page],
                              capture_output=True, text=True, timeout=180)
        assert os.path.exists(png) and os.path.getsize(png) > 10_000, shot.stderr[-2000:]
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
        dom = subprocess.run(common + ["--dump-dom", page], capture_output=True, text=True, timeout=180)
        assert "<svg" in dom.stdout and 'class="allow"' in dom.stdout and 'class="deny"' in dom.stdout, dom.stdout[:500]
        console_errors = [line for line in (shot.stderr + dom.stderr).splitlines() if "CONSOLE" in line and ("ERROR" in line or "Uncaught" in line)]
        assert not console_errors, console_errors

    try:
        for name, fn in [("export, verify with custos and with the independent Python verifier", export_and_verify),
                         ("a changed byte in any file, a missing file, reordered lines: FAIL", tampering_fails_in_both_verifiers),
                         ("bad requests refused with precise errors; non-admins refused", bad_requests_are_refused),
                         ("report.html renders in headless Chromium with its SVG chart", report_renders_in_headless_chromium)]:
            check(name, fn)
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
