#!/usr/bin/env python3
"""An independent verifier of Custos evidence bundles, written from the README alone, using only
hashlib, json and cryptography. Usage: verify_bundle.py DIR VERIFIER_KEY  -> prints PASS or FAIL: ...
"""
import base64
import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CONTEXT = b"custos-evidence-manifest/v1\n"


class Fail(Exception):
    pass


def canonical(value):
    """RFC 8785 for Custos's integer-only JSON."""
    if isinstance(value, dict):
        return "{" + ",".join(canonical(k) + ":" + canonical(value[k]) for k in sorted(value, key=lambda k: k.encode("utf-16-be"))) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index, size, leaf, proof):
    if index >= size:
        raise Fail("index beyond tree")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Fail("proof too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Fail("proof too short")
    return r


def consistent(size1, size2, proof, root1, root2):
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0 or not proof:
        return False
    if size1 & (size1 - 1) == 0:
        proof = [root1] + proof
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2


def open_note(note, name, key_hash, public_key):
    """C2SP signed note: returns (origin, size, root)."""
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    for line in signatures.splitlines():
        prefix = "\u2014 " + name + " "
        if line.startswith(prefix):
            blob = base64.b64decode(line[len(prefix):])
            if blob[:4] == key_hash:
                public_key.verify(blob[4:], text.encode())
                origin, size, root = text.splitlines()[:3]
                return origin, int(size), base64.b64decode(root)
    raise Fail("no signature by the verifier key")


def verify(directory, verifier_key):
    name, key_hash_hex, key_b64 = verifier_key.split("+", 2)
    raw = base64.b64decode(key_b64)
    public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    key_hash = bytes.fromhex(key_hash_hex)
    if hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4] != key_hash:
        raise Fail("verifier key hash")

    def read(file):
        path = os.path.join(directory, file)
        if not os.path.exists(path):
            raise Fail(f"{file}: missing")
        return open(path, "rb").read()

    manifest_bytes = read("manifest.json")
    try:
        public_key.verify(base64.b64decode(read("manifest.sig").strip()), CONTEXT + manifest_bytes)
    except InvalidSignature:
        raise Fail("manifest.sig: does not verify")
    manifest = json.loads(manifest_bytes)
    if manifest["verifier_key"] != verifier_key:
        raise Fail("manifest.json: another verifier key")
    for file, digest in manifest["files"].items():
        if hashlib.sha256(read(file)).hexdigest() != digest:
            raise Fail(f"{file}: SHA-256 does not match the manifest")
    first, last = manifest["range"]["first_index"], manifest["range"]["last_index"]
    leaves, prev = [], None
    lines = read("entries.jsonl").split(b"\n")
    if lines[-1] != b"":
        raise Fail("entries.jsonl: no final newline")
    for offset, line in enumerate(lines[:-1]):
        index = first + offset
        entry = json.loads(line)
        if canonical(entry).encode() != line:
            raise Fail(f"entries.jsonl index {index}: not canonical")
        if entry["index"] != index:
            raise Fail(f"entries.jsonl index {index}: index is {entry['index']}")
        if not manifest["range"]["from_time"] <= entry["time"] < manifest["range"]["to_time"]:
            raise Fail(f"entries.jsonl index {index}: time outside the range")
        if prev is not None and entry["prev"] != prev.hex():
            raise Fail(f"entries.jsonl index {index}: prev does not match")
        prev = hashlib.sha256(b"\x00" + line).digest()
        leaves.append(prev)
    if len(leaves) != last - first + 1:
        raise Fail("entries.jsonl: wrong number of entries")
    origin, size, root = open_note(read("checkpoint.txt").decode(), name, key_hash, public_key)
    if origin != manifest["origin"] or size != manifest["tree_size"]:
        raise Fail("checkpoint.txt: another log or size")
    proofs = json.loads(read("proofs.json"))
    for which, leaf in (("inclusion_first", leaves[0]), ("inclusion_last", leaves[-1])):
        p = proofs[which]
        if root_from_inclusion(p["index"], size, leaf, [bytes.fromhex(h) for h in p["hashes"]]) != root:
            raise Fail(f"proofs.json index {p['index']}: inclusion proof does not reach the checkpoint root")
    if proofs.get("start_checkpoint"):
        o1, s1, r1 = open_note(proofs["start_checkpoint"], name, key_hash, public_key)
        if o1 != origin or s1 > first or not consistent(s1, size, [bytes.fromhex(h) for h in proofs["consistency"]["hashes"]], r1, root):
            raise Fail("proofs.json: consistency proof does not verify")
    return len(leaves)


if __name__ == "__main__":
    try:
        count = verify(sys.argv[1], sys.argv[2])
        print(f"PASS {count} entries")
    except (Fail, InvalidSignature, KeyError, ValueError) as error:
        print(f"FAIL: {error}")
        sys.exit(1)
