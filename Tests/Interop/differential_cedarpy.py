#!/usr/bin/env python3
"""Differential test: Custos's policy engine against cedarpy (Cedar's reference implementation).

Generates RBAC/ABAC workloads (Benchmarks/rbac_workload.py), asks cedarpy for every decision, writes
them as `custos policy test` expectations, and runs the Custos CLI on them. Any disagreement fails.
Prints "N passed, N failed" (workloads).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Benchmarks"))
import rbac_workload  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build/debug"))
    args = parser.parse_args()
    import cedarpy

    passed = failed = 0
    # Dense hierarchies (few roles, folders and actions) so many requests match some policy and both
    # permits and forbids decide; sparse ones as in the benchmark.
    workloads = [(10, dict(roles=3, groups=8, folders=3, actions=2)), (200, dict(roles=4, groups=12, folders=4, actions=3)),
                 (1000, dict(roles=6, groups=20, folders=6, actions=4)), (1000, {})]
    for policies, dims in workloads:
        with tempfile.TemporaryDirectory(prefix="custos-diff-") as out:
            rbac_workload.generate(out, policies=policies, entities=3000, requests=400, **dims)
            text = open(os.path.join(out, "policies.cedar")).read()
            entities = json.load(open(os.path.join(out, "entities.json")))
            requests = json.load(open(os.path.join(out, "requests.json")))
            def ref(r):
                return f'{r["type"]}::"{r["id"]}"'
            batch = [{"principal": ref(r["principal"]), "action": ref(r["action"]), "resource": ref(r["resource"]), "context": {}}
                     for r in requests]
            results = cedarpy.is_authorized_batch(batch, text, entities)
            tests = []
            for i, (request, result) in enumerate(zip(batch, results)):
                decision = "allow" if str(result.decision).lower().endswith("allow") else "deny"
                reasons = sorted(result.diagnostics.reasons) if result.diagnostics else []
                tests.append(dict(request, name=f"request {i}", expect=decision, reasons=reasons))
            with open(os.path.join(out, "tests.json"), "w") as f:
                json.dump(tests, f)
            run = subprocess.run([os.path.join(args.bin, "custos"), "policy", "test", os.path.join(out, "tests.json"),
                                  "--policies", out], capture_output=True, text=True)
            allows = sum(1 for t in tests if t["expect"] == "allow")
            if run.returncode == 0:
                passed += 1
                print(f"PASS {policies} policies: {len(tests)} requests ({allows} allowed) decided as cedarpy decides")
            else:
                failed += 1
                print(f"FAIL {policies} policies:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
