"""Polling through a real forward proxy: tinyproxy from Debian's packages, started here on loopback.

An HTTPS node goes through ``CONNECT`` (the proxy sees the host, not the requests), an HTTP node through
absolute-form GETs; ``NO_PROXY`` and ``proxy: none`` go direct; a node's own ``proxy:`` with credentials
authenticates to the proxy (tinyproxy's BasicAuth), and the proxy password is in no log line.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from exalate_collector.config import parse_config
from exalate_collector.endpoints import ENDPOINTS
from exalate_collector.runner import collect
from exalate_collector.simulator import NodeSimulator

from .conftest import SECRET, node_config
from .tools import tool

PROXY_USER, PROXY_PASSWORD = "monitor", "a-proxy-password-nobody-may-see"
PROXY_VARS = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
)


@dataclass
class Proxy:
    url: str
    log: Path

    def requests(self) -> list[str]:
        """What the proxy was asked: 'CONNECT 127.0.0.1:port HTTP/1.1', 'GET http://... HTTP/1.1'."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return [line.split("): ", 1)[1] for line in lines if "]: Request (file descriptor" in line]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_proxy(workdir: Path, basic_auth: tuple[str, str] | None) -> tuple[subprocess.Popen[bytes], Proxy]:
    port = _free_port()
    log = workdir / "tinyproxy.log"
    lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 30", "MaxClients 64", "Allow 127.0.0.1", "LogLevel Info"]
    lines.append(f'LogFile "{log}"')
    if basic_auth:
        lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
    conf = workdir / "tinyproxy.conf"
    conf.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen(
        [str(tool("tinyproxy")), "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(200):  # up to 10 s for it to listen
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"tinyproxy exited with {process.returncode}; see {conf}") from None
            time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError("tinyproxy never listened")
    return process, Proxy(f"http://127.0.0.1:{port}", log)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    process, found = _start_proxy(tmp_path, None)
    try:
        yield found
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def guarded_proxy(tmp_path: Path) -> Iterator[Proxy]:
    process, found = _start_proxy(tmp_path, (PROXY_USER, PROXY_PASSWORD))
    try:
        yield found
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA bundle): (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exalate-simulator")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "node.pem", folder / "node.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def https_node(certificate: tuple[Path, Path]) -> Iterator[NodeSimulator]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with NodeSimulator(["AllContent"], secret=SECRET, tls=context) as node:
        yield node


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


def _poll(node: NodeSimulator, ca: Path | None = None, **extra: object):
    raw = node_config(node, ["AllContent"], **extra)
    if ca is not None:
        raw["verify_tls"] = str(ca)
    return collect(parse_config({"nodes": [raw]}), deadline_s=60)


def _outcomes(result) -> set[str]:
    return {ex.failure.error_type if ex.failure else "ok" for ex in result.exchanges}


def test_an_https_node_is_polled_through_https_proxy_with_connect(https_node, proxy, certificate, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    result = _poll(https_node, certificate[0])
    assert _outcomes(result) == {"ok", "invalid_json"}  # the seed's own blob errors example
    port = https_node.base_url.rsplit(":", 1)[1].split("/")[0]
    tunnels = [r for r in proxy.requests() if r.startswith(f"CONNECT 127.0.0.1:{port} ")]
    assert tunnels and len(tunnels) <= len(ENDPOINTS)  # through the proxy, over kept-alive tunnels
    assert len(https_node.seen) == len(ENDPOINTS)


def test_no_proxy_and_proxy_none_go_direct(https_node, proxy, certificate, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert _outcomes(_poll(https_node, certificate[0])) == {"ok", "invalid_json"}
    monkeypatch.delenv("NO_PROXY")
    assert _outcomes(_poll(https_node, certificate[0], proxy="none")) == {"ok", "invalid_json"}
    assert proxy.requests() == []


def test_an_http_node_is_polled_through_http_proxy(proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with NodeSimulator(["AllContent"], secret=SECRET) as node:
        result = _poll(node)
    assert _outcomes(result) == {"ok", "invalid_json"}
    gets = [r for r in proxy.requests() if r.startswith(f"GET {node.base_url}/rest/issuehub/2.4/relations/AllContent/")]
    assert len(gets) == len(ENDPOINTS)


def test_a_nodes_own_proxy_with_credentials_authenticates_and_the_password_is_logged_nowhere(
    https_node, guarded_proxy, certificate, caplog
):
    address = guarded_proxy.url.removeprefix("http://")
    with caplog.at_level(logging.DEBUG):
        good = _poll(https_node, certificate[0], proxy=f"http://{PROXY_USER}:{PROXY_PASSWORD}@{address}")
        refused = _poll(https_node, certificate[0], proxy=f"http://{PROXY_USER}:wrong@{address}")
        anonymous = _poll(https_node, certificate[0], proxy=guarded_proxy.url)
    assert _outcomes(good) == {"ok", "invalid_json"}
    where = "127.0.0.1:" + https_node.base_url.rsplit(":", 1)[1].split("/")[0]
    for result, status in ((refused, 401), (anonymous, 407)):  # tinyproxy answers a wrong password with 401
        assert _outcomes(result) == {"connection_failed"}
        details = {ex.failure.detail for ex in result.exchanges if ex.failure}
        assert details == {f"the proxy refused the connection to {where} (HTTP {status})"}
    assert PROXY_PASSWORD not in caplog.text
    assert PROXY_PASSWORD not in repr([ex.failure for ex in refused.exchanges])
