"""TLS between Cairn and etcd: a CA, a server certificate for 127.0.0.1 and a
client certificate (etcd with --client-cert-auth), all made here."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import tempfile
import time
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cairn.durability.etcd.client import EtcdError, TlsFiles
from cairn.durability.etcd.log import EtcdLog
from cairn.replication.etcdcluster import EtcdCluster
from tests.multiaz.cluster import ETCD, Shard, client

pytestmark = pytest.mark.skipif(ETCD is None, reason="etcd-server is not installed")


def _write(path: str, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return path


def make_pki(directory: str) -> dict[str, str]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cairn test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(name: str, usage: list[x509.ObjectIdentifier]) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                    critical=False)
                .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
                .sign(ca_key, hashes.SHA256()))
        pem_key = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
        return cert.public_bytes(serialization.Encoding.PEM), pem_key

    server_cert, server_key = leaf("etcd", [ExtendedKeyUsageOID.SERVER_AUTH,
                                            ExtendedKeyUsageOID.CLIENT_AUTH])
    client_cert, client_key = leaf("cairn", [ExtendedKeyUsageOID.CLIENT_AUTH])
    return {
        "ca": _write(os.path.join(directory, "ca.pem"), ca.public_bytes(serialization.Encoding.PEM)),
        "server_cert": _write(os.path.join(directory, "server.pem"), server_cert),
        "server_key": _write(os.path.join(directory, "server-key.pem"), server_key),
        "client_cert": _write(os.path.join(directory, "client.pem"), client_cert),
        "client_key": _write(os.path.join(directory, "client-key.pem"), client_key),
    }


@pytest.fixture(scope="module")
def tls_etcd() -> Iterator[tuple[EtcdCluster, dict[str, str]]]:
    base = tempfile.mkdtemp(prefix="cairn-tls-")
    pki = make_pki(base)
    etcd = EtcdCluster(os.path.join(base, "etcd"),
                       tls=(pki["ca"], pki["server_cert"], pki["server_key"]))
    etcd.start()
    yield etcd, pki
    etcd.destroy()
    shutil.rmtree(base, ignore_errors=True)


def test_log_over_tls_and_refused_without(tls_etcd: tuple[EtcdCluster, dict[str, str]]) -> None:
    etcd, pki = tls_etcd
    tls = TlsFiles(pki["ca"], pki["client_cert"], pki["client_key"])
    log = EtcdLog(etcd.endpoints, "tls", "s", tls=tls)
    try:
        assert log.call(log.client.put(b"/tls/x", b"1")).header.revision > 0
        assert log.call(log.client.get(b"/tls/x")).value == b"1"
    finally:
        log.close()
    plain = EtcdLog(etcd.endpoints, "tls", "s", timeout=0.5)
    try:
        with pytest.raises(EtcdError):
            plain.call(plain.client.get(b"/tls/x"), timeout=30)
    finally:
        plain.close()
    # A CA that did not sign the server's certificate: the handshake fails.
    other = make_pki(tempfile.mkdtemp(prefix="cairn-tls-other-"))
    wrong = EtcdLog(etcd.endpoints, "tls", "s", timeout=0.5,
                    tls=TlsFiles(other["ca"], pki["client_cert"], pki["client_key"]))
    try:
        with pytest.raises(EtcdError):
            wrong.call(wrong.client.get(b"/tls/x"), timeout=30)
    finally:
        wrong.close()


def test_shard_over_tls(tls_etcd: tuple[EtcdCluster, dict[str, str]]) -> None:
    etcd, pki = tls_etcd
    base = tempfile.mkdtemp(prefix="cairn-tls-shard-")
    shard = Shard(etcd, base, cluster_name="tlsc", extra_args=[
        "--etcd-tls-ca", pki["ca"], "--etcd-tls-cert", pki["client_cert"],
        "--etcd-tls-key", pki["client_key"]])
    try:
        shard.add_node()
        shard.add_node()
        shard.wait_roles(timeout=60)
        primary = shard.primary()
        c = client(primary)
        assert c.set("over", "tls")
        replica = next(n for n in shard.nodes if n is not primary)
        r = client(replica)
        r.execute_command("READONLY")
        deadline = time.monotonic() + 10
        while r.get("over") != b"tls":
            assert time.monotonic() < deadline, shard.logs()
            time.sleep(0.05)
    finally:
        shard.stop()
        shutil.rmtree(base, ignore_errors=True)
