#!/usr/bin/env python3
"""RBAC workload for comparing Custos's policy engine with cedarpy (Cedar's reference implementation).

  python3 rbac_workload.py generate DIR --policies N [--entities 10000] [--requests 2000]
  python3 rbac_workload.py cedarpy DIR        # decisions per second through cedarpy's batch API

The workload: 10,000 entities (users in groups, groups in roles, documents in folders); N policies, each
`permit(principal in Role::"rK", action == Action::"aJ", resource in Folder::"fI") when {...}` or a
forbid; requests sample users, actions and documents. Policies and entities are parsed once.
"""
import json
import os
import random
import sys
import time


def generate(out, policies, entities, requests, roles=50, groups=200, folders=100, actions=20, seed=42):
    rnd = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    users = (entities - roles - groups - folders - actions) // 2
    docs = entities - roles - groups - folders - actions - users
    ents = []
    for r in range(roles):
        ents.append({"uid": {"type": "Role", "id": f"r{r}"}, "attrs": {}, "parents": []})
    for g in range(groups):
        ents.append({"uid": {"type": "Group", "id": f"g{g}"}, "attrs": {},
                     "parents": [{"type": "Role", "id": f"r{rnd.randrange(roles)}"}]})
    for u in range(users):
        ents.append({"uid": {"type": "User", "id": f"u{u}"}, "attrs": {"level": rnd.randrange(10), "dept": f"d{rnd.randrange(8)}"},
                     "parents": [{"type": "Group", "id": f"g{rnd.randrange(groups)}"}]})
    for f in range(folders):
        ents.append({"uid": {"type": "Folder", "id": f"f{f}"}, "attrs": {}, "parents": []})
    for d in range(docs):
        ents.append({"uid": {"type": "Document", "id": f"doc{d}"}, "attrs": {"classification": rnd.randrange(5)},
                     "parents": [{"type": "Folder", "id": f"f{rnd.randrange(folders)}"}]})
    for a in range(actions):
        ents.append({"uid": {"type": "Action", "id": f"a{a}"}, "attrs": {}, "parents": []})
    text = []
    for i in range(policies):
        effect = "forbid" if i % 10 == 9 else "permit"
        cond = "principal.level >= resource.classification" if effect == "permit" else "principal.level < 2"
        text.append(f'{effect}(principal in Role::"r{rnd.randrange(roles)}", action == Action::"a{rnd.randrange(actions)}", '
                    f'resource in Folder::"f{rnd.randrange(folders)}") when {{ {cond} }};')
    reqs = [{"principal": {"type": "User", "id": f"u{rnd.randrange(users)}"},
             "action": {"type": "Action", "id": f"a{rnd.randrange(actions)}"},
             "resource": {"type": "Document", "id": f"doc{rnd.randrange(docs)}"}, "context": {}} for _ in range(requests)]
    with open(os.path.join(out, "policies.cedar"), "w") as f:
        f.write("\n".join(text) + "\n")
    with open(os.path.join(out, "entities.json"), "w") as f:
        json.dump(ents, f)
    with open(os.path.join(out, "requests.json"), "w") as f:
        json.dump(reqs, f)


def run_cedarpy(out):
    import cedarpy
    policies = open(os.path.join(out, "policies.cedar")).read()
    entities = json.load(open(os.path.join(out, "entities.json")))
    reqs = json.load(open(os.path.join(out, "requests.json")))
    batch = [{"principal": f'User::"{r["principal"]["id"]}"', "action": f'Action::"{r["action"]["id"]}"',
              "resource": f'Document::"{r["resource"]["id"]}"', "context": {}} for r in reqs]
    # cedarpy parses policies and entities per call; the batch API amortizes that over all requests.
    start = time.perf_counter()
    results = cedarpy.is_authorized_batch(batch, policies, entities)
    elapsed = time.perf_counter() - start
    allows = sum(1 for r in results if str(r.decision).lower().endswith("allow"))
    print(json.dumps({"engine": "cedarpy", "requests": len(batch), "seconds": elapsed,
                      "per_request_us": elapsed / len(batch) * 1e6, "allows": allows}))


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        args = sys.argv[2:]
        out = args[0]
        def opt(name, default):
            return int(args[args.index(name) + 1]) if name in args else default
        generate(out, opt("--policies", 1000), opt("--entities", 10000), opt("--requests", 2000))
    elif sys.argv[1] == "cedarpy":
        run_cedarpy(sys.argv[2])
