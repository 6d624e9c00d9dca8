"""A real Zabbix server (6.0 or 7.0) for the tests, from Debian's packages, on loopback, in a temporary directory.

PostgreSQL 15 in a private cluster (initdb + pg_ctl on a free port, trust auth on loopback), the schema
from the package, ``zabbix_server -f`` whose configuration cache is loaded when a test asks for it
(``reload_cache``; ``CacheUpdateFrequency`` is its maximum, an hour), and the frontend's JSON-RPC
API served by ``php -S`` from a copy of the frontend with its own ``conf/zabbix.conf.php``.
Run as root (CI), PostgreSQL and the server run as the ``zabbix`` user.

Two versions on one machine: the installed one from the system (``make zabbix-packages`` installs Debian 12's
6.0), the other from Debian's packages unpacked into .cache/tools/zabbix-SERIES (integrations/fetch-tools.sh:
7.0 from bookworm-backports, 6.0 from bookworm; nothing installed).

Stopping leaves no process: each long-running program starts in a session of its own, is asked to stop
(SIGTERM to the program alone: zabbix_server's children ignore a SIGTERM not sent by their parent, which
stops them in order), and whatever is left of its session is then killed; ``/proc`` is scanned until the
session is empty. This runs on any way out of ``zabbix_server()``, a failed test included, and a process
that outlives it is an error. (Started through ``runuser`` and stopped with a group kill, 7.0's children
outlived the test: runuser kills the server 2 s after passing it a SIGTERM, before it has stopped them.)
"""

from __future__ import annotations

import gzip
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PACKAGES = "zabbix-server-pgsql zabbix-frontend-php php-pgsql php-cli postgresql-15"
#: The versions the tests run on: the LTS releases Debian 12 ships (6.0) and backports (7.0).
VERSIONS = ("6.0", "7.0")

T = TypeVar("T")


@dataclass(frozen=True)
class Distribution:
    """One Zabbix version's server, schema and frontend: the installed packages (``prefix`` /), or the same
    packages unpacked under ``prefix`` with the libraries they need beyond the installed ones."""

    prefix: Path
    version: str  # as zabbix_server -V says: 7.0.9

    @property
    def series(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def server_bin(self) -> Path:
        return self.prefix / "usr/sbin/zabbix_server"

    @property
    def schema_dir(self) -> Path:
        return self.prefix / "usr/share/zabbix-server-pgsql"

    @property
    def frontend(self) -> Path:
        return self.prefix / "usr/share/zabbix"

    def env(self) -> dict[str, str]:
        """The environment of the server's processes (the unpacked libraries first, when unpacked)."""
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        libraries = sorted(str(p) for p in self.prefix.glob("usr/lib/*-linux-gnu") if p.is_dir())
        if self.prefix != Path("/") and libraries:
            env["LD_LIBRARY_PATH"] = ":".join(libraries)
        return env


def server_version(prefix: Path) -> str | None:
    """The version of the server under ``prefix`` (None: not there, or it does not run)."""
    probe = Distribution(prefix, "")
    if not probe.server_bin.exists():
        return None
    done = subprocess.run(
        [str(probe.server_bin), "-V"], capture_output=True, env=probe.env(), timeout=60, check=False, text=True
    )
    found = re.search(r"\(Zabbix\) (\d+\.\d+\.\d+)", done.stdout)
    return found.group(1) if done.returncode == 0 and found else None


def missing(distribution: Distribution | None = None) -> list[str]:
    """What is not installed (empty: everything the server needs is there)."""
    needed = [PG_BIN / "initdb"]
    if distribution is not None:
        needed += [distribution.schema_dir / "schema.sql.gz", distribution.frontend / "api_jsonrpc.php"]
    found = [str(p) for p in needed if not p.exists()]
    if shutil.which("php") is None:
        found.append("php")
    return found


#: Set (to anything): the unpacked packages even where the installed server is that version (to test them).
PREFER_UNPACKED = "EXALATE_ZABBIX_UNPACKED"


def distribution(series: str, unpacked: Callable[[], Path]) -> Distribution | str:
    """Zabbix ``series`` (6.0, 7.0): the installed packages if they are that version, else the packages
    unpacked by ``unpacked()`` (a prefix, from fetch-tools.sh); or why there is none."""
    installed = server_version(Path("/"))
    if installed is not None and installed.startswith(series + ".") and not os.environ.get(PREFER_UNPACKED):
        return Distribution(Path("/"), installed)
    prefix = unpacked()
    version = server_version(prefix)
    if version is None or not version.startswith(series + "."):
        return f"the unpacked Zabbix {series} in {prefix} does not run (version {version}): see fetch-tools.sh"
    return Distribution(prefix, version)


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
    distribution: Distribution
    root: Path
    db_port: int
    trapper_port: int
    api_port: int
    tls_dir: Path | None
    processes: list[subprocess.Popen[bytes]]
    #: Sessions started here that are not our children (the postmaster, started by pg_ctl, is its own).
    sessions: list[int] = field(default_factory=list)

    @property
    def version(self) -> str:
        return self.distribution.version

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
            [str(self.distribution.server_bin), "-c", str(self.config), "-R", "config_cache_reload"],
            check=True,
            capture_output=True,
            timeout=60,
            env=self.distribution.env(),
            **_as_zabbix_user(),
        )

    def log_tail(self, lines: int = 60) -> str:
        path = self.root / "zabbix_server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _as_zabbix() -> list[str]:
    """A prefix for the one-shot commands (initdb, pg_ctl, psql): they run to their end."""
    return ["runuser", "-u", "zabbix", "--"] if os.geteuid() == 0 else []


def _as_zabbix_user() -> dict[str, Any]:
    """Popen arguments that run a program as the zabbix user itself (no runuser between us and it)."""
    return {"user": "zabbix", "group": "zabbix", "extra_groups": []} if os.geteuid() == 0 else {}


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
        # The cache is loaded when a test says so (reload_cache), never by chance between two of its steps.
        "CacheUpdateFrequency": 3600,
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
    if server.distribution.series != "6.0":  # 7.0's own pollers (unknown to 6.0, which refuses them)
        lines |= {
            "StartAgentPollers": 0,
            "StartHTTPAgentPollers": 0,
            "StartSNMPPollers": 0,
            "StartBrowserPollers": 0,
            "StartConnectors": 0,
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
def zabbix_server(distribution: Distribution) -> Iterator[ZabbixServer]:
    """Start PostgreSQL, load the schema, start zabbix_server and the API; stop and remove everything after."""
    root = Path(tempfile.mkdtemp(prefix=f"exalate-zabbix-{distribution.series}-"))
    root.chmod(0o755)  # the zabbix user must reach it
    tls_dir = root / "tls"
    tls_dir.mkdir()
    make_certificates(tls_dir)
    server = ZabbixServer(distribution, root, free_port(), free_port(), free_port(), tls_dir, [])
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
        server.sessions.append(int((data / "postmaster.pid").read_text().split()[0]))  # pg_ctl: setsid
        base = [str(PG_BIN / "createdb"), "-h", str(root / "pgsock"), "-p", str(server.db_port), "-U", "zabbix"]
        _run([*base, "-E", "UTF8", "-T", "template0", "zabbix"])
        for part in ("schema", "images", "data"):
            schema = distribution.schema_dir / f"{part}.sql.gz"
            _psql(server.db_port, root, "zabbix", gzip.decompress(schema.read_bytes()))
        _psql(server.db_port, root, "zabbix", b"ANALYZE;")
        server.config.write_text(_server_conf(server))
        web = root / "web"
        shutil.copytree(distribution.frontend, web, symlinks=True)
        conf = web / "conf" / "zabbix.conf.php"
        conf.write_text(_frontend_conf(server))
        # Debian's frontend reads /etc/zabbix/zabbix.conf.php: this copy reads its own.
        loader = web / "include" / "classes" / "core" / "CConfigFile.php"
        loader.write_text(loader.read_text().replace("'/etc/zabbix/zabbix.conf.php'", repr(str(conf))))
        server.processes.append(
            subprocess.Popen(
                [str(distribution.server_bin), "-f", "-c", str(server.config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=distribution.env(),
                cwd=root,
                **_as_zabbix_user(),
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
        try:
            stop(server, data)
        finally:
            if not os.environ.get("EXALATE_KEEP_ZABBIX"):
                shutil.rmtree(root, ignore_errors=True)


def stop(server: ZabbixServer, data: Path) -> None:
    """Stop the API and the server (each with all of its processes), then PostgreSQL (cluster ``data``); raise
    if any process of theirs had to be killed."""
    left: list[str] = []
    for process in reversed(server.processes):  # the API first, then the server (it writes its history)
        left += _stop(process)
    postgres = {leader: tree(leader) for leader in server.sessions}
    if (data / "postmaster.pid").exists():
        pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"]
        subprocess.run([*_as_zabbix(), *pg_ctl], check=False, capture_output=True, timeout=120)
    for leader, processes in postgres.items():
        left += _end(processes | tree(leader))
    if left:
        raise RuntimeError(f"processes outlived the Zabbix test server and were killed: {'; '.join(left)}")


#: A process as /proc tells it: (pid, start time in clock ticks since boot): a pid alone may be reused.
Process = tuple[int, int]


@dataclass(frozen=True)
class _Stat:
    ppid: int
    session: int
    start: int
    state: str
    command: str


def _scan() -> dict[int, _Stat]:
    """Every process's /proc/PID/stat."""
    found: dict[int, _Stat] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        # pid (comm) state ppid pgrp session ... starttime (field 22): comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        found[int(entry.name)] = _Stat(int(fields[1]), int(fields[3]), int(fields[19]), fields[0], command)
    return found


def tree(leader: int) -> set[Process]:
    """The live processes of ``leader``'s session and its descendants (PostgreSQL's children start sessions of
    their own), from /proc; zombies are dead and not counted."""
    procs = {pid: stat for pid, stat in _scan().items() if stat.state not in ("Z", "X")}
    found = {pid for pid, stat in procs.items() if stat.session == leader or pid == leader}
    while True:
        more = {pid for pid, stat in procs.items() if stat.ppid in found} - found
        if not more:
            return {(pid, procs[pid].start) for pid in found}
        found |= more


def alive(processes: set[Process]) -> dict[Process, str]:
    """Those of ``processes`` that still run (not ended, not a zombie), with their command."""
    now = _scan()
    return {
        (pid, start): now[pid].command
        for pid, start in processes
        if pid in now and now[pid].start == start and now[pid].state not in ("Z", "X")
    }


def _stop(process: subprocess.Popen[bytes]) -> list[str]:
    """SIGTERM to the leader of a session alone and its exit awaited, then whatever is left of it ended."""
    processes = tree(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=90)  # a hang guard: zabbix_server stops in a few seconds
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
    return _end(processes | tree(process.pid))


def _end(processes: set[Process]) -> list[str]:
    """Kill those of ``processes`` still running and wait until /proc shows none of them; those, described."""
    left = alive(processes)
    for pid, _start in left:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    poll("the killed processes to end", lambda: None if alive(processes) else True, deadline_s=60, every_s=0.1)
    return [f"pid {pid} ({command})" for (pid, _start), command in left.items()]


def _listening(port: int) -> bool | None:
    with socket.socket() as s:
        s.settimeout(1)
        return True if s.connect_ex(("127.0.0.1", port)) == 0 else None
