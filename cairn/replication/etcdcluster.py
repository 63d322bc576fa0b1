"""Start and stop a local etcd cluster on loopback (for `cairn local-cluster` and tests).

Each member is a real ``etcd`` process (Debian's etcd-server) with its own data
directory, client port and peer port on 127.0.0.1, labelled with a zone name.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EtcdMember:
    name: str
    zone: str
    data_dir: str
    client_port: int
    peer_port: int
    log_path: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class EtcdCluster:
    """``size`` members in ``base_dir``; ``start()`` returns when all serve."""

    base_dir: str
    size: int = 3
    heartbeat_ms: int = 100
    election_ms: int = 1000
    quota_bytes: int = 0  # 0: etcd's default (2 GiB)
    # Client TLS: (CA, server cert, server key) PEM paths; clients must present a
    # certificate signed by the CA. Peers talk plain HTTP (loopback only).
    tls: tuple[str, str, str] | None = None
    binary: str = "etcd"
    members: list[EtcdMember] = field(default_factory=list)
    token: str = ""

    def __post_init__(self) -> None:
        if not self.members:
            for i in range(self.size):
                name = f"etcd{i + 1}"
                self.members.append(EtcdMember(
                    name=name, zone=f"az{i + 1}",
                    data_dir=os.path.join(self.base_dir, name),
                    client_port=free_port(), peer_port=free_port(),
                    log_path=os.path.join(self.base_dir, f"{name}.log"),
                ))
        self.token = self.token or f"cairn-{os.getpid()}-{int(time.time() * 1000)}"

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def _args(self, m: EtcdMember) -> list[str]:
        initial = ",".join(f"{x.name}={x.peer_url}" for x in self.members)
        scheme = "https" if self.tls else "http"
        args = [
            self.binary, "--name", m.name, "--data-dir", m.data_dir,
            "--listen-client-urls", f"{scheme}://{m.endpoint}",
            "--advertise-client-urls", f"{scheme}://{m.endpoint}",
            "--listen-peer-urls", m.peer_url,
            "--initial-advertise-peer-urls", m.peer_url,
            "--initial-cluster", initial,
            "--initial-cluster-token", self.token,
            "--heartbeat-interval", str(self.heartbeat_ms),
            "--election-timeout", str(self.election_ms),
            "--logger", "zap", "--log-level", "warn",
        ]
        if not os.path.isdir(os.path.join(m.data_dir, "member")):
            args += ["--initial-cluster-state", "new"]
        else:
            args += ["--initial-cluster-state", "existing"]
        if self.quota_bytes:
            args += ["--quota-backend-bytes", str(self.quota_bytes)]
        if self.tls:
            ca, cert, key = self.tls
            args += ["--trusted-ca-file", ca, "--cert-file", cert, "--key-file", key,
                     "--client-cert-auth"]
        return args

    def start_member(self, m: EtcdMember) -> None:
        os.makedirs(self.base_dir, exist_ok=True)
        logf = open(m.log_path, "ab")
        try:
            m.proc = subprocess.Popen(self._args(m), stdout=logf, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            logf.close()

    def start(self, timeout: float = 30.0) -> None:
        for m in self.members:
            self.start_member(m)
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 30.0, members: list[EtcdMember] | None = None) -> None:
        """Wait until every given member (default: every running one) serves a linearizable read."""
        deadline = time.monotonic() + timeout
        for m in members or [x for x in self.members if x.running]:
            while True:
                if not m.running:
                    raise RuntimeError(f"etcd member {m.name} exited; see {m.log_path}")
                if _healthy(m.endpoint) if not self.tls else self._tls_healthy(m):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"etcd member {m.name} not healthy; see {m.log_path}")
                time.sleep(0.1)

    def _tls_healthy(self, m: EtcdMember) -> bool:
        """With client TLS the gateway wants a certificate: ask over gRPC instead."""
        import asyncio

        from cairn.durability.etcd.client import EtcdClient, TlsFiles

        assert self.tls is not None
        ca, cert, key = self.tls

        async def probe() -> bool:
            client = EtcdClient([m.endpoint], tls=TlsFiles(ca, cert, key), timeout=1.0, retries=0)
            try:
                await client.range(b"/")
                return True
            except Exception:
                return False
            finally:
                await client.close()

        return asyncio.run(probe())

    def kill(self, m: EtcdMember) -> None:
        if m.proc is not None and m.proc.poll() is None:
            m.proc.kill()
            m.proc.wait()

    def pause(self, m: EtcdMember) -> None:
        if m.proc is not None:
            m.proc.send_signal(signal.SIGSTOP)

    def resume(self, m: EtcdMember) -> None:
        if m.proc is not None:
            m.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        for m in self.members:
            if m.proc is not None and m.proc.poll() is None:
                m.proc.send_signal(signal.SIGCONT)
                m.proc.terminate()
        for m in self.members:
            if m.proc is not None:
                try:
                    m.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    m.proc.kill()
                    m.proc.wait()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)


def _healthy(endpoint: str) -> bool:
    """A linearizable GET through etcd's HTTP gateway answers (needs a raft leader)."""
    import http.client
    import json

    host, port = endpoint.rsplit(":", 1)
    try:
        conn = http.client.HTTPConnection(host, int(port), timeout=1.0)
        conn.request("POST", "/v3/kv/range", body=json.dumps({"key": "Lw=="}))
        resp = conn.getresponse()
        ok = resp.status == 200
        resp.read()
        conn.close()
        return ok
    except OSError:
        return False
