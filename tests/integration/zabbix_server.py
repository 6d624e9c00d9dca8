"""A real Zabbix 6.0 server for the tests, from Debian's packages, on loopback, in a temporary directory.

PostgreSQL 15 in a private cluster (initdb + pg_ctl on a free port, trust auth on loopback), the schema
from the package, ``zabbix_server -f`` with a low ``CacheUpdateFrequency``, and the frontend's JSON-RPC
API served by ``php -S`` from a copy of /usr/share/zabbix with its own ``conf/zabbix.conf.php``.
Run as root (CI), PostgreSQL and the server run as the ``zabbix`` user. ``make zabbix-packages``
installs the packages (see the Makefile).
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

SERVER_BIN = Path("/usr/sbin/zabbix_server")
SCHEMA_DIR = Path("/usr/share/zabbix-server-pgsql")
FRONTEND = Path("/usr/share/zabbix")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PACKAGES = "zabbix-server-pgsql zabbix-frontend-php php-pgsql php-cli postgresql-15"

T = TypeVar("T")


def missing() -> list[str]:
    """What is not installed (empty: everything the server needs is there)."""
    needed = [SERVER_BIN, SCHEMA_DIR / "schema.sql.gz", FRONTEND / "api_jsonrpc.php", PG_BIN / "initdb"]
    found = [str(p) for p in needed if not p.exists()]
    if shutil.which("php") is None:
        found.append("php")
    return found


_TAKEN: set[int] = set()


def free_port(low: int = 20000, high: int = 32767) -> int:
    """A free loopback port in [low, high] (Zabbix's ListenPort must be <= 32767; the kernel's ephemeral
    ports start above that), never one this process handed out before."""
    for _ in range(500):
        port = random.randint(low, high)
        if port in _TAKEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _TAKEN.add(port)
        return port
    raise RuntimeError(f"no free port in {low}-{high}")


def poll(what: str, probe: Callable[[], T | None], deadline_s: float = 120.0, every_s: float = 0.5) -> T:
    """Wait for an asynchronous effect: ``probe`` returns a value (done) or None (not yet)."""
    end = time.monotonic() + deadline_s
    last_error: Exception | None = None
    while time.monotonic() < end:
        try:
            got = probe()
        except Exception as exc:
            last_error, got = exc, None
        if got is not None:
            return got
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


@dataclass
class ZabbixServer:
    root: Path
    db_port: int
    trapper_port: int
    api_port: int
    tls_dir: Path | None
    processes: list[subprocess.Popen[bytes]]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api_jsonrpc.php"

    @property
    def config(self) -> Path:
        return self.root / "zabbix_server.conf"

    def api(self) -> Any:
        from zabbix_utils import ZabbixAPI

        api = ZabbixAPI(url=self.api_url, timeout=60)
        api.login(user="Admin", password="zabbix")
        return api

    def reload_cache(self) -> None:
        """Make the server read its configuration now (new hosts, discovered items)."""
        subprocess.run(
            [*_as_zabbix(), str(SERVER_BIN), "-c", str(self.config), "-R", "config_cache_reload"],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def log_tail(self, lines: int = 60) -> str:
        path = self.root / "zabbix_server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _as_zabbix() -> list[str]:
    return ["runuser", "-u", "zabbix", "--"] if os.geteuid() == 0 else []


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run([*_as_zabbix(), *cmd], capture_output=True, timeout=600, check=False, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:2])} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}"
        )
    return done


def _psql(db_port: int, root: Path, database: str, sql: bytes) -> None:
    cmd = [str(PG_BIN / "psql"), "-h", str(root / "pgsock"), "-p", str(db_port), "-U", "zabbix", "-d", database]
    _run([*cmd, "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f", "-"], input=sql)


def _server_conf(server: ZabbixServer) -> str:
    lines = {
        "ListenIP": "127.0.0.1",
        "ListenPort": server.trapper_port,
        "DBHost": "127.0.0.1",
        "DBPort": server.db_port,
        "DBName": "zabbix",
        "DBUser": "zabbix",
        "LogFile": server.root / "zabbix_server.log",
        "LogFileSize": 0,
        "PidFile": server.root / "zabbix_server.pid",
        "SocketDir": server.root,
        "CacheUpdateFrequency": 2,
        "HousekeepingFrequency": 0,
        "StartPollers": 1,
        "StartPollersUnreachable": 1,
        "StartTrappers": 3,
        "StartPingers": 0,
        "StartDiscoverers": 0,
        "StartHTTPPollers": 0,
        "StartTimers": 1,
        "StartEscalators": 1,
        "StartAlerters": 1,
        "StartDBSyncers": 1,
        "StartLLDProcessors": 1,
        "StartPreprocessors": 1,
        "StartHistoryPollers": 1,
        "StartReportWriters": 0,
        "StartODBCPollers": 0,
        "Timeout": 4,
        "LogSlowQueries": 0,
    }
    if server.tls_dir is not None:
        lines |= {
            "TLSCAFile": server.tls_dir / "ca.pem",
            "TLSCertFile": server.tls_dir / "server.pem",
            "TLSKeyFile": server.tls_dir / "server.key",
        }
    return "".join(f"{k}={v}\n" for k, v in lines.items())


def _frontend_conf(server: ZabbixServer) -> str:
    return f"""<?php
$DB['TYPE'] = 'POSTGRESQL';
$DB['SERVER'] = '127.0.0.1';
$DB['PORT'] = '{server.db_port}';
$DB['DATABASE'] = 'zabbix';
$DB['USER'] = 'zabbix';
$DB['PASSWORD'] = '';
$DB['SCHEMA'] = '';
$DB['ENCRYPTION'] = false;
$DB['KEY_FILE'] = '';
$DB['CERT_FILE'] = '';
$DB['CA_FILE'] = '';
$DB['VERIFY_HOST'] = false;
$DB['CIPHER_LIST'] = '';
$DB['VAULT_URL'] = '';
$DB['VAULT_DB_PATH'] = '';
$DB['VAULT_TOKEN'] = '';
$DB['DOUBLE_IEEE754'] = true;
$ZBX_SERVER = '127.0.0.1';
$ZBX_SERVER_PORT = '{server.trapper_port}';
$ZBX_SERVER_NAME = 'exalate-collector tests';
$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;
"""


def make_certificates(directory: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (with ``cryptography``).

    RSA keys: Zabbix built with GnuTLS offers only RSA-authenticated cipher suites by default."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(stem: str, cert: x509.Certificate, key: Any) -> None:
        (directory / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / f"{stem}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("exalate-test-ca"))
        .issuer_name(name("exalate-test-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    write("ca", ca, ca_key)
    for stem, cn, usage in (
        ("server", "127.0.0.1", x509.ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", "exalate-collector", x509.ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if stem == "server":
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
        write(stem, builder.sign(ca_key, hashes.SHA256()), key)


@contextmanager
def zabbix_server() -> Iterator[ZabbixServer]:
    """Start PostgreSQL, load the schema, start zabbix_server and the API; stop and remove everything after."""
    root = Path(tempfile.mkdtemp(prefix="exalate-zabbix-"))
    root.chmod(0o755)  # the zabbix user must reach it
    tls_dir = root / "tls"
    tls_dir.mkdir()
    make_certificates(tls_dir)
    server = ZabbixServer(root, free_port(), free_port(), free_port(), tls_dir, [])
    (root / "pgsock").mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "zabbix", "zabbix")
        for path in [root / "pgsock", tls_dir, *tls_dir.iterdir()]:
            shutil.chown(path, "zabbix", "zabbix")
    data = root / "pgdata"
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-w"]
    try:
        _run([str(PG_BIN / "initdb"), "-D", str(data), "-U", "zabbix", "--auth=trust", "-E", "UTF8", "--no-sync"])
        options = (
            f"-p {server.db_port} -k {root / 'pgsock'} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=64MB"
        )
        _run([*pg_ctl, "-o", options, "-l", str(root / "postgres.log"), "start"])
        base = [str(PG_BIN / "createdb"), "-h", str(root / "pgsock"), "-p", str(server.db_port), "-U", "zabbix"]
        _run([*base, "-E", "UTF8", "-T", "template0", "zabbix"])
        for part in ("schema", "images", "data"):
            _psql(server.db_port, root, "zabbix", gzip.decompress((SCHEMA_DIR / f"{part}.sql.gz").read_bytes()))
        _psql(server.db_port, root, "zabbix", b"ANALYZE;")
        server.config.write_text(_server_conf(server))
        web = root / "web"
        shutil.copytree(FRONTEND, web, symlinks=True)
        conf = web / "conf" / "zabbix.conf.php"
        conf.write_text(_frontend_conf(server))
        # Debian's frontend reads /etc/zabbix/zabbix.conf.php: this copy reads its own.
        loader = web / "include" / "classes" / "core" / "CConfigFile.php"
        loader.write_text(loader.read_text().replace("'/etc/zabbix/zabbix.conf.php'", repr(str(conf))))
        server.processes.append(
            subprocess.Popen(
                [*_as_zabbix(), str(SERVER_BIN), "-f", "-c", str(server.config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        server.processes.append(
            subprocess.Popen(
                [
                    "php",
                    "-d",
                    "memory_limit=512M",
                    "-d",
                    "max_execution_time=300",
                    "-S",
                    f"127.0.0.1:{server.api_port}",
                    "-t",
                    str(web),
                ],
                stdout=subprocess.DEVNULL,
                stderr=(root / "php.log").open("wb"),
                start_new_session=True,
            )
        )
        poll("the Zabbix API", lambda: server.api().api_version(), deadline_s=120)
        poll("the trapper port", lambda: _listening(server.trapper_port), deadline_s=120)
        yield server
    finally:
        for process in reversed(server.processes):
            _stop(process)
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*_as_zabbix(), *pg_ctl, "-m", "fast", "stop"], check=False, capture_output=True, timeout=120
            )
        if not os.environ.get("EXALATE_KEEP_ZABBIX"):
            shutil.rmtree(root, ignore_errors=True)


def _listening(port: int) -> bool | None:
    with socket.socket() as s:
        s.settimeout(1)
        return True if s.connect_ex(("127.0.0.1", port)) == 0 else None


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait(timeout=30)
