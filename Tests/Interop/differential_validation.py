#!/usr/bin/env python3
"""Differential test of strict validation: Custos's PolicyValidator against cedarpy's validate_policies.

Generates random ABAC policies over a schema with optional attributes, records, sets, tags, enums,
extension types and an action hierarchy (about half of them ill-typed on purpose: undeclared or unguarded
optional attributes, Long compared with String, bad extension literals, mixed sets...), asks cedarpy
whether each validates, writes one Cedar integration-test file per policy with that `shouldValidate`,
and runs `custos policy conformance` on them all: any disagreement fails. Prints "N passed, N failed".
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCHEMA = """
type Money = { cents: Long, currency: String };
entity Role;
entity Team enum ["red", "blue"];
entity User in [Role] {
  age: Long, name: String, nickname?: String, manager?: User, team: Team,
  address: { city: String, zip?: String }, roles: Set<String>, joined: datetime, limit?: Money
} tags String;
entity Folder in [Folder];
entity Doc in [Folder] {
  owner: User, labels: Set<String>, size: Long, public: Bool, created: datetime, ttl?: duration,
  origin?: ipaddr, price: decimal
};
action view, edit appliesTo { principal: [User], resource: [Doc], context: { ip: ipaddr, mfa?: Bool, hour: Long } };
action list appliesTo { principal: [User, Role], resource: [Folder] };
action manage in [view, edit] appliesTo { principal: [User], resource: [Doc, Folder] };
"""


class Generator:
    def __init__(self, rng):
        self.r = rng

    def pick(self, *options):
        return self.r.choice(options)

    def long(self, d):
        if d <= 0:
            return self.pick("1", "42", "principal.age", "resource.size", "context.hour", "principal.name")
        return self.pick(
            lambda: self.long(0),
            lambda: f"({self.long(d - 1)} + {self.long(d - 1)})",
            lambda: f"({self.long(d - 1)} * 2)",
            lambda: f"-{self.long(d - 1)}",
            lambda: "principal.limit.cents",
            lambda: f"principal.getTag(\"{self.pick('level', 'x')}\")",
            lambda: f"resource.ttl.{self.pick('toHours', 'toDays')}()",
            lambda: f"(if {self.bool(d - 1)} then {self.long(d - 1)} else {self.long(d - 1)})",
        )()

    def string(self, d):
        return self.pick('"a"', "principal.name", "principal.nickname", "principal.address.city", "principal.address.zip",
                         "principal.manager.name", "principal.limit.currency", "resource.owner.name", "principal.tag",
                         f"principal.getTag(\"{self.pick('dept', 'x')}\")", "resource.size")

    def entity(self, d):
        return self.pick("principal", "resource", "resource.owner", "principal.manager", 'User::"alice"', 'Team::"red"',
                         'Team::"green"', 'Role::"admin"', 'Folder::"root"', 'Admin::"x"', "action", 'Action::"view"')

    def set_(self, d):
        return self.pick('["a", "b"]', "principal.roles", "resource.labels", "[1, 2]", '[1, "a"]', "[]",
                         '[Role::"admin", Role::"ops"]', '[Folder::"a", Doc::"b"]', "[principal.age]")

    def ext(self, d):
        return self.pick(
            lambda: f"context.ip.{self.pick('isLoopback', 'isIpv4', 'isMulticast')}()",
            lambda: f"context.ip.isInRange(ip(\"{self.pick('10.0.0.0/8', '::1', 'not-an-ip')}\"))",
            lambda: "resource.origin.isIpv6()",
            lambda: f"resource.price.{self.pick('lessThan', 'greaterThanOrEqual')}(decimal(\"{self.pick('1.5', '12.3456', '1.23456')}\"))",
            lambda: f"resource.created {self.pick('<', '>=')} datetime(\"{self.pick('2024-01-01', '2024-01-01T10:00:00Z', '2024-13-01')}\")",
            lambda: f"principal.joined.offset(duration(\"{self.pick('1d', '2h30m', '1x')}\")) < resource.created",
            lambda: "resource.created.durationSince(principal.joined) > duration(\"7d\")",
            lambda: "resource.created.toDate() == principal.joined.toDate()",
            lambda: "context.ip < context.ip",
            lambda: "resource.price < decimal(\"1.0\")",
        )()

    def bool(self, d):
        if d <= 0:
            return self.pick("true", "false", "resource.public", "context.mfa", "principal.address has zip", "principal has nickname",
                             "principal has manager", "context has mfa", "principal has height", "resource has ttl",
                             "principal.hasTag(\"dept\")", "resource.hasTag(\"x\")", "principal.roles.isEmpty()")
        options = [
            lambda: self.bool(0),
            lambda: f"({self.bool(d - 1)} && {self.bool(d - 1)})",
            lambda: f"({self.bool(d - 1)} || {self.bool(d - 1)})",
            lambda: f"!{self.bool(d - 1)}",
            lambda: f"({self.long(d - 1)} {self.pick('<', '<=', '>', '>=')} {self.long(d - 1)})",
            lambda: f"({self.string(d - 1)} {self.pick('==', '!=')} {self.string(d - 1)})",
            lambda: f"({self.entity(d - 1)} {self.pick('==', '!=')} {self.entity(d - 1)})",
            lambda: f"({self.entity(d - 1)} in {self.pick(self.entity(d - 1), self.set_(d - 1))})",
            lambda: f"({self.entity(d - 1)} is {self.pick('User', 'Doc', 'Folder', 'Ghost')})",
            lambda: f"{self.string(d - 1)} like \"a*\"",
            lambda: f"{self.set_(d - 1)}.{self.pick('contains', 'containsAll', 'containsAny')}({self.pick(self.string(d - 1), self.set_(d - 1), self.long(d - 1))})",
            lambda: f"(if {self.bool(d - 1)} then {self.bool(d - 1)} else {self.bool(d - 1)})",
            lambda: f"(principal has {self.pick('nickname', 'manager', 'limit')} && {self.bool(d - 1)})",
            lambda: "(principal has nickname && principal.nickname == \"bob\")",
            lambda: "(principal has manager.nickname && principal.manager.nickname like \"*x\")",
            lambda: "(principal.hasTag(\"dept\") && principal.getTag(\"dept\") == \"eng\")",
            lambda: "(context has mfa && context.mfa)",
            lambda: "(resource has ttl && resource.ttl > duration(\"1h\"))",
            lambda: "{\"a\": 1, \"b\": principal.name}.b == \"x\"",
            lambda: "{\"a\": 1} == {\"a\": \"x\"}",
            lambda: "principal.team == Team::\"blue\"",
            lambda: self.ext(d - 1),
        ]
        return self.pick(*options)()

    def policy(self):
        effect = self.pick("permit", "forbid")
        principal = self.pick("principal", "principal", 'principal == User::"alice"', 'principal in Role::"admin"',
                              "principal is User", 'principal is Role', 'principal == Doc::"d"')
        action = self.pick("action", 'action == Action::"view"', 'action in [Action::"view", Action::"edit"]',
                           'action == Action::"list"', 'action in Action::"manage"', 'action == Action::"ghost"')
        resource = self.pick("resource", "resource", "resource is Doc", 'resource in Folder::"root"', 'resource == Doc::"d"',
                             "resource is Folder")
        conditions = " ".join(f"{self.pick('when', 'unless')} {{ {self.bool(self.r.randint(1, 3))} }}"
                              for _ in range(self.r.randint(0, 2)))
        return f"{effect}({principal}, {action}, {resource}) {conditions};"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build/debug"))
    parser.add_argument("--policies", type=int, default=600)
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args()
    import cedarpy

    schema = cedarpy.Schema.from_str(SCHEMA)
    generator = Generator(random.Random(args.seed))
    with tempfile.TemporaryDirectory(prefix="custos-validation-diff-") as out:
        with open(os.path.join(out, "schema.cedarschema"), "w") as f:
            f.write(SCHEMA)
        with open(os.path.join(out, "entities.json"), "w") as f:
            f.write("[]")
        files, valid, seen = [], 0, set()
        while len(files) < args.policies:
            text = generator.policy()
            if text in seen:
                continue
            seen.add(text)
            try:
                result = cedarpy.validate_policies(text, schema)
            except Exception as error:  # a policy cedarpy cannot even parse is not a validation case
                print(f"skipped (cedarpy: {error}): {text}")
                continue
            name = f"p{len(files)}"
            with open(os.path.join(out, name + ".cedar"), "w") as f:
                f.write(text + "\n")
            with open(os.path.join(out, name + ".json"), "w") as f:
                json.dump({"policies": name + ".cedar", "entities": "entities.json", "schema": "schema.cedarschema",
                           "shouldValidate": bool(result.validation_passed), "requests": []}, f)
            valid += bool(result.validation_passed)
            files.append(name + ".json")
        run = subprocess.run([os.path.join(os.path.abspath(args.bin), "custos"), "policy", "conformance", "--root", out, "--show", "20"] + files,
                             capture_output=True, text=True, cwd=out)
        agreed = f"shouldValidate: {len(files)} files match, 0 do not" in run.stdout
        print(f"{len(files)} generated policies: cedarpy validates {valid}, rejects {len(files) - valid}")
        if run.returncode == 0 and agreed:
            print("PASS every policy validates in Custos exactly when it validates in cedarpy")
            print("1 passed, 0 failed")
            return 0
        print(f"FAIL Custos and cedarpy disagree:\n{run.stdout[-4000:]}{run.stderr[-2000:]}")
        for line in run.stdout.splitlines():
            if line.startswith("mismatch:"):
                name = line.split()[1].removesuffix(".json")
                print(f"  {name}: {open(os.path.join(out, name + '.cedar')).read().strip()}")
        print("0 passed, 1 failed")
        return 1


if __name__ == "__main__":
    sys.exit(main())
