#!/usr/bin/env python3
"""TLS and mutual TLS on the gRPC port, from Python grpcio with certificates made by `cryptography`.

Usage: run_tls.py --bin .build/debug      Prints PASS/FAIL lines and "N passed, N failed".
"""
import argparse
import datetime
import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_interop import Daemon, generate_stubs  # noqa: E402


def make_pki(directory):
    """A CA, a server certificate for 127.0.0.1, and a client certificate, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(text):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def write(filename, data, mode=0o644):
        path = os.path.join(directory, filename)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def key_pem(key):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("custos test CA")).issuer_name(name("custos test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(common_name, san, usage):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(common_name)).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    server_key, server = leaf("127.0.0.1", [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
                              x509.oid.ExtendedKeyUsageOID.SERVER_AUTH)
    client_key, client = leaf("billing-worker", None, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH)
    pem = serialization.Encoding.PEM
    return {
        "ca": write("ca.pem", ca.public_bytes(pem)),
        "server_cert": write("server.pem", server.public_bytes(pem)),
        "server_key": write("server.key", key_pem(server_key), 0o600),
        "client_cert": write("client.pem", client.public_bytes(pem)),
        "client_key": write("client.key", key_pem(client_key), 0o600),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/debug")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="custos-tls-")
    generate_stubs(os.path.join(work, "gen"))
    import grpc
    from custos.v1 import tokens_pb2 as tk, tokens_pb2_grpc as tk_rpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    pki = make_pki(work)
    read = lambda path: open(path, "rb").read()  # noqa: E731
    binary = os.path.abspath(os.path.join(args.bin, "custosd"))
    results = []

    def check(name, fn):
        try:
            fn()
            results.append(True)
            print(f"PASS {name}")
        except Exception:
            results.append(False)
            print(f"FAIL {name}")
            traceback.print_exc()

    def serving(channel):
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING

    def refused(channel):
        try:
            serving(channel)
        except grpc.RpcError as e:
            return e.code() == grpc.StatusCode.UNAVAILABLE
        return False

    def tls_only():
        daemon = Daemon(binary, os.path.join(work, "tls"), extra=("--tls-cert-file", pki["server_cert"], "--tls-key-file", pki["server_key"]))
        try:
            secure = grpc.secure_channel(f"127.0.0.1:{daemon.port}", grpc.ssl_channel_credentials(read(pki["ca"])))
            assert serving(secure)
            assert tk_rpc.TokensStub(secure).GetJWKS(tk.GetJWKSRequest()).json.startswith(b'{"keys"')
            assert refused(grpc.insecure_channel(f"127.0.0.1:{daemon.port}")), "plaintext must not be served"
        finally:
            daemon.stop()

    def mutual_tls():
        daemon = Daemon(binary, os.path.join(work, "mtls"), extra=(
            "--tls-cert-file", pki["server_cert"], "--tls-key-file", pki["server_key"], "--tls-client-ca-file", pki["ca"]))
        try:
            with_cert = grpc.ssl_channel_credentials(read(pki["ca"]), read(pki["client_key"]), read(pki["client_cert"]))
            assert serving(grpc.secure_channel(f"127.0.0.1:{daemon.port}", with_cert))
            without = grpc.ssl_channel_credentials(read(pki["ca"]))
            assert refused(grpc.secure_channel(f"127.0.0.1:{daemon.port}", without)), "a client without a certificate got in"
            # The custos CLI over mutual TLS.
            cli = os.path.abspath(os.path.join(args.bin, "custos"))
            out = subprocess.run([cli, "token", "jwks", "--server", f"127.0.0.1:{daemon.port}", "--tls-ca", pki["ca"],
                                  "--tls-cert", pki["client_cert"], "--tls-key", pki["client_key"]],
                                 capture_output=True, text=True, timeout=30)
            assert out.returncode == 0 and out.stdout.startswith('{"keys"'), (out.stdout, out.stderr)
        finally:
            daemon.stop()

    try:
        for name, fn in [("TLS: verified by the CA, plaintext refused", tls_only),
                         ("mutual TLS: a client certificate is required", mutual_tls)]:
            check(name, fn)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
