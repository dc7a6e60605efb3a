#!/usr/bin/env python3
"""Writes Fuzz/corpus/<target>/ seed inputs from the repository's test data and a few hand-made
well-formed values (real keys and signatures where a parser checks them). Run once after adding a
target; the result is committed. The evidence seed comes from a Swift test (a real ledger's bundle)."""
import base64, glob, hashlib, json, os, shutil, struct, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "corpus")
CONFORMANCE = os.path.join(ROOT, "Tests", "CustosPolicyTests", "Conformance")


def put(target, name, data):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def copy(target, paths):
    for path in paths:
        put(target, os.path.relpath(path, ROOT).replace("/", "_"), open(path, "rb").read())


def b64(data):
    return base64.b64encode(data).decode()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization

    def key(fill):
        return Ed25519PrivateKey.from_private_bytes(bytes([fill]) * 32)

    def raw_public(private):
        return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    shutil.rmtree(CORPUS, ignore_errors=True)
    os.makedirs(CORPUS)
    # Seeds taken from the Cedar integration tests keep their license beside them.
    for name in ("LICENSE", "NOTICE"):
        shutil.copy(os.path.join(CONFORMANCE, name), os.path.join(CORPUS, f"{name}-cedar-integration-tests"))
    conformance_json = sorted(glob.glob(os.path.join(CONFORMANCE, "**", "*.json"), recursive=True))
    policies = sorted(glob.glob(os.path.join(ROOT, "policies", "*.cedar"))) + sorted(
        glob.glob(os.path.join(CONFORMANCE, "**", "*.cedar"), recursive=True))
    schemas = sorted(glob.glob(os.path.join(ROOT, "policies", "*.cedarschema"))) + sorted(
        glob.glob(os.path.join(CONFORMANCE, "**", "*.cedarschema"), recursive=True))

    copy("json", [os.path.join(ROOT, "policies", "entities.json"), os.path.join(ROOT, "policies", "tests.json")] + conformance_json[:12])
    for i, text in enumerate(['{"a":[1,-0,1.5e3,"\\u00e9\\ud83d\\ude00",true,null,{}]}', '"\\/"', "[[[[[]]]]]", '{"b":1,"a":2}']):
        put("json", f"hand-{i}", text)
    copy("cedar-policy", policies)
    copy("cedar-schema", schemas)
    copy("entities-json", [os.path.join(ROOT, "policies", "entities.json")] + sorted(
        glob.glob(os.path.join(CONFORMANCE, "sample-data", "*", "entities.json"))))
    for i, text in enumerate(['{"amount_cents": 1299, "hour": 10}', '{"ip": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}, "when": {"__entity": {"type": "Invoice", "id": "x"}}}',
                              '{"tags": ["a", "b"], "nested": {"d": {"__extn": {"fn": "decimal", "arg": "1.5"}}}}']):
        put("context-json", f"hand-{i}", text)
    for i, text in enumerate(['{"n":1}', '{"reason":"refund","amounts":[1,2],"ok":true}', "{}"]):
        put("ledger-details", f"hand-{i}", text)
    put("schema-json", "hand-0", json.dumps({"": {"entityTypes": {"User": {"memberOfTypes": ["Group"], "shape": {"type": "Record", "attributes": {"age": {"type": "Long"}}}}, "Group": {}},
                                                   "actions": {"view": {"appliesTo": {"principalTypes": ["User"], "resourceTypes": ["Group"], "context": {"type": "Record", "attributes": {}}}}}}}))

    # Entries, notes and checkpoints as the ledger writes them.
    entry = {"action": "Action::\"refund\"", "actor": "Service::\"billing-worker\"", "details": {"n": 1}, "index": 7, "kind": "authz.decision",
             "outcome": "allow", "prev": "ab" * 32, "resource": "Invoice::\"inv-1\"", "time": 1764892800000000000}
    put("canonical-entry", "entry-7", json.dumps(entry, separators=(",", ":"), sort_keys=True))
    entry["details"] = {"a": [1, "x", None, True], "b": {"c": "\u00e9"}}
    put("canonical-entry", "entry-nested", json.dumps(entry, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode())
    name = "fuzz.custos/ledger"
    signer = key(0x11)
    public = raw_public(signer)
    key_hash = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    body = f"{name}\n12\n{b64(hashlib.sha256(b'root').digest())}\n"
    note = body + "\n" + f"\u2014 {name} {b64(key_hash + signer.sign(body.encode()))}\n"
    put("signed-note", "checkpoint-12", note)
    witness = key(0x22)
    witness_name = "fuzz.custos/witness"
    witness_id = hashlib.sha256(witness_name.encode() + b"\n\x04" + raw_public(witness)).digest()[:4]
    timestamp = 1764892800
    cosigned = witness.sign(f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode())
    put("checkpoint", "cosigned-12", body + "\n" + f"\u2014 {witness_name} {b64(witness_id + struct.pack('>Q', timestamp) + cosigned)}\n")
    put("checkpoint", "plain-0", f"{name}\n0\n{b64(hashlib.sha256(b'').digest())}\n")
    note_key = b64(b"\x01" + public)
    witness_key = b64(b"\x04" + raw_public(witness))
    put("verifier-keys", "note-vkey", f"{name}+{key_hash.hex()}+{note_key}")
    put("verifier-keys", "witness-vkey", f"{witness_name}+{witness_id.hex()}+{witness_key}")

    # Tokens: an access token as Custos issues it (re-signed by the harness anyway).
    header = b64url(json.dumps({"alg": "EdDSA", "kid": "fuzz-kid", "typ": "at+jwt"}, separators=(",", ":")).encode())
    claims = {"aud": "custos", "client_id": "billing-worker", "exp": 1800000900, "iat": 1800000000, "iss": "custos", "jti": "j1",
              "nbf": 1800000000, "roles": ["Role::\"payments\""], "scope": "", "sub": "billing-worker"}
    payload = b64url(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    put("jwt", "access-token", f"{header}.{payload}.{b64url(key(0x33).sign(f'{header}.{payload}'.encode()))}")

    # Keys: a ciphertext, a share, a sealed root-key file.
    put("ciphertext", "v1-16-bytes", b"\x01" + struct.pack(">I", 1) + bytes(12) + bytes(range(16)) + bytes(16))
    share_body = f"custos-share-s3t1d-1-{'7f' * 32}"
    put("unseal-share", "share-1", f"{share_body}-{hashlib.sha256(share_body.encode()).hexdigest()[:8]}")
    sealed = {"argon2id": {"m": 19456, "p": 1, "salt": b64(bytes(16)), "t": 2}, "ciphertext": b64(bytes(32)), "format": "custos-sealed-root/v1",
              "method": "passphrase", "nonce": b64(bytes(12)), "root_key_id": "rk-1", "tag": b64(bytes(16)), "unseal_check": "x"}
    put("sealed-root-key", "passphrase", json.dumps(sealed, separators=(",", ":"), sort_keys=True) + "\n")
    sealed.update({"method": "shamir", "shamir": {"set": "s3t1d", "shares": 5, "threshold": 3}})
    put("sealed-root-key", "shamir", json.dumps(sealed, separators=(",", ":"), sort_keys=True) + "\n")

    # The evidence seed: a real bundle from a small ledger, written by a Swift test.
    subprocess.run(["swift", "test", "--skip-build", "--filter", "FuzzCorpusTests/writeTheEvidenceSeed"], cwd=ROOT, check=True,
                   env=dict(os.environ, CUSTOS_WRITE_FUZZ_SEEDS="1"), stdout=subprocess.DEVNULL)
    targets = [t for t in sorted(os.listdir(CORPUS)) if os.path.isdir(os.path.join(CORPUS, t))]
    print("seeds:", {t: len(os.listdir(os.path.join(CORPUS, t))) for t in targets})


if __name__ == "__main__":
    sys.exit(main())
