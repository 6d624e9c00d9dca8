"""Hostile and slow nodes on real sockets: every request bounded in time, threads and sockets cleaned up.

The hostile peer runs in its own process (tests/integration/hostile.py), so that the threads and file
descriptors counted here are the collector's only. No assertion is on seconds: each is on how a
request was classified (``timeout`` is ``timeout_s``'s doing; ``deadline_exceeded`` the run's).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from exalate_collector.client import NodeClient
from exalate_collector.config import parse_config
from exalate_collector.endpoints import BLOB_ERRORS, ENDPOINTS, polls_per_relation
from exalate_collector.runner import collect
from exalate_collector.simulator import NodeSimulator

from .conftest import OTEL_VARS, SECRET, config_for, node_config
from .helpers import values

HOSTILE = Path(__file__).with_name("hostile.py")


@dataclass(frozen=True)
class Peer:
    base_url: str


@contextmanager
def hostile(mode: str = "", pause: float = 0.2) -> Iterator[Peer]:
    """The hostile peer in a child process; ``base_url`` ends in /jira like a real node's."""
    process = subprocess.Popen(
        [sys.executable, str(HOSTILE), "--mode", mode, "--pause", str(pause)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().split()[1])
        yield Peer(f"http://127.0.0.1:{port}/jira")
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def outcomes(exchanges, relation: str) -> list[str]:
    return [ex.failure.error_type if ex.failure else "ok" for ex in exchanges if ex.relation == relation]


TRICKLES = ["TrickleStatus", "TrickleHeaders", "TrickleBody", "TrickleClose", "Trickle10"]


@pytest.mark.parametrize("phase", TRICKLES)
def test_a_trickle_is_cut_at_timeout_s_and_the_healthy_relation_beside_it_is_complete(phase):
    with hostile() as peer:
        node = node_config(peer, [phase, "Healthy"], timeout_s=1, concurrency=6)
        result = collect(config_for(node), deadline_s=120)  # far away: only timeout_s can cut the trickle
    assert outcomes(result.exchanges, phase) == ["timeout"] * len(ENDPOINTS)
    assert outcomes(result.exchanges, "Healthy") == ["ok"] * len(ENDPOINTS)
    details = {ex.failure.detail for ex in result.exchanges if ex.failure}
    expected = (
        "body not complete" if phase in ("TrickleBody", "TrickleClose", "Trickle10") else "no status line and headers"
    )
    assert all(detail.startswith(expected) for detail in details), details


def test_a_node_that_accepts_and_never_answers_is_timeout_not_deadline():
    with hostile("Silent") as peer:
        result = collect(config_for(node_config(peer, ["AllContent"], timeout_s=1)), deadline_s=120)
    assert outcomes(result.exchanges, "AllContent") == ["timeout"] * len(ENDPOINTS)
    assert all(ex.sent for ex in result.exchanges)


def test_a_tls_handshake_that_never_completes_is_timeout():
    """The peer takes the connection and reads the ClientHello, but never answers it."""
    with hostile("Silent") as peer:
        node = node_config(peer, ["AllContent"], timeout_s=1)
        node["base_url"] = node["base_url"].replace("http://", "https://")
        result = collect(config_for(node), deadline_s=120)
    assert outcomes(result.exchanges, "AllContent") == ["timeout"] * len(ENDPOINTS)
    assert {ex.failure.detail for ex in result.exchanges if ex.failure} == {
        "no status line and headers within timeout_s 1"
    }


def test_a_compressed_answer_nobody_asked_for_is_invalid_json_that_says_so():
    with hostile() as peer:
        result = collect(config_for(node_config(peer, ["Gzipped", "Healthy"])), deadline_s=120)
    assert outcomes(result.exchanges, "Gzipped") == ["invalid_json"] * len(ENDPOINTS)
    assert outcomes(result.exchanges, "Healthy") == ["ok"] * len(ENDPOINTS)
    details = {ex.failure.detail for ex in result.exchanges if ex.failure}
    assert details == {"the answer is compressed (Content-Encoding: gzip) though none was asked for; a proxy?"}


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("phase", [*TRICKLES, "NegativeChunk"])
def test_ten_warm_runs_leave_no_thread_and_no_socket_behind(phase):
    counts = []
    expected = "invalid_response" if phase == "NegativeChunk" else "timeout"
    with hostile() as peer:
        config = config_for(node_config(peer, [phase, "Healthy"], timeout_s=0.5, concurrency=6))
        for _ in range(10):
            result = collect(config, deadline_s=60)
            assert outcomes(result.exchanges, phase) == [expected] * len(ENDPOINTS)
            assert outcomes(result.exchanges, "Healthy") == ["ok"] * len(ENDPOINTS)
            counts.append((threading.active_count(), _fds()))
    threads, fds = zip(*counts, strict=True)
    assert max(threads) - min(threads) <= 2, counts
    assert max(fds) - min(fds) <= 2, counts
    assert not [t.name for t in threading.enumerate() if t.name.startswith(("poll", "exalate-dns"))]


CAPS = "+dac_override,+dac_read_search"  # to read the interpreter wherever it lives (/root/.pyenv)


def _unused_uid() -> int:
    """A uid no process has now (other test runs on this machine may be doing the same)."""
    taken = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            taken.update(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("Uid:"))
        except (OSError, IndexError, ValueError):
            continue
    candidate = 50_000 + os.getpid() % 10_000
    while candidate in taken:
        candidate += 1
    return candidate


def _as_limited_user(nproc: int) -> list[str]:
    """prlimit + setpriv (util-linux): a uid of its own (root ignores RLIMIT_NPROC) that keeps only the
    right to read files; RLIMIT_NPROC then limits the threads of the child, and of it alone."""
    uid = str(_unused_uid())
    return [
        *("prlimit", f"--nproc={nproc}", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"),
        *(f"--inh-caps={CAPS}", f"--ambient-caps={CAPS}", "--"),
    ]


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("prlimit"),
    reason="a thread limit that binds needs a uid of its own: root and util-linux (as in CI)",
)
@pytest.mark.parametrize("nproc", [1024, 96, 12])
def test_many_silent_nodes_under_a_thread_limit_exit_normally_and_report_every_node(receiver, nproc):
    """120 never-answering nodes (720 requests): a thread per request slot needed 960 threads, a pool of
    workers 64. Polling on one event loop needs none of its own: a limit of 12 threads changes nothing."""
    workdir = Path(tempfile.mkdtemp(prefix="exalate-nproc-"))
    workdir.chmod(0o755)
    with hostile("Silent") as peer:
        nodes = [node_config(peer, ["AllContent"], name=f"silent-{i:03d}", timeout_s=0.5) for i in range(120)]
        config = workdir / "config.json"
        config.write_text(json.dumps({"nodes": nodes}))
        config.chmod(0o644)
        env = {k: v for k, v in os.environ.items() if k not in OTEL_VARS and not k.startswith(("AWS_", "ARCHIVE_"))}
        env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "HOME": str(workdir)})
        done = subprocess.run(
            [*_as_limited_user(nproc), sys.executable, "-m", "exalate_collector.cli", "run"]
            + ["--config", str(config), "--deadline", "4", "--no-archive", "--no-state"],
            capture_output=True,
            text=True,
            env=env,
            cwd=workdir,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "can't start new thread" not in done.stderr
    assert "Traceback" not in done.stderr
    reported = {p.attributes["exalate.node"] for p in receiver.points() if p.name == "exalate.endpoint.up"}
    assert reported == {f"silent-{i:03d}" for i in range(120)}
    up = values(receiver, "exalate.endpoint.up")
    assert up == [0] * 120 * polls_per_relation(["AllContent"])
    errors = {p.attributes["error.type"] for p in receiver.points() if p.name == "exalate.poll.errors"}
    assert errors <= {"timeout", "deadline_exceeded"} and "timeout" in errors


def test_the_run_wide_cap_bounds_requests_in_flight_below_a_nodes_concurrency():
    relations = [f"R{i}" for i in range(6)]
    with NodeSimulator(relations, secret=SECRET, latency_s=0.05) as node:
        config = parse_config({"nodes": [node_config(node, relations, concurrency=8)], "limits": {"max_in_flight": 3}})
        result = collect(config, deadline_s=60)
    # every endpoint of each relation but the seed's invalid blob errors
    assert [ex.ok for ex in result.exchanges].count(True) == polls_per_relation(relations) - len(relations)
    assert node.max_in_flight == 3


def test_a_node_whose_requests_all_hang_does_not_starve_the_others():
    """The hanging node could fill every worker (its concurrency equals the cap); its fair share is half."""
    relations = [f"R{i}" for i in range(10)]
    with hostile("Silent") as peer, NodeSimulator(relations, secret=SECRET, latency_s=0.02) as healthy:
        config = parse_config(
            {
                "nodes": [
                    node_config(peer, ["A", "B"], name="hanging", concurrency=8, timeout_s=300),
                    node_config(healthy, relations, name="healthy", concurrency=8),
                ],
                "limits": {"max_in_flight": 8},
            }
        )
        result = collect(config, deadline_s=20)  # generous for a loaded machine; the outcome is what counts
    hanging = {ex.failure.error_type for ex in result.exchanges if ex.node == "hanging" and ex.failure}
    assert hanging == {"deadline_exceeded"}
    healthy_failed = {(ex.relation, ex.endpoint) for ex in result.exchanges if ex.node == "healthy" and not ex.ok}
    assert healthy_failed == {(r, BLOB_ERRORS) for r in relations}  # only the seed's own invalid JSON


def _keep_alive_then_close(listener: socket.socket, answered: list[threading.Event]) -> None:
    """Answers each request with keep-alive headers, then closes the connection anyway (a node's idle
    keep-alive timeout, or a proxy's), and says so through ``answered``."""
    for event in answered:
        conn, _ = listener.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]")
        event.set()


def test_a_keep_alive_connection_the_node_closed_while_idle_is_not_reused():
    answered = [threading.Event(), threading.Event()]
    with socket.create_server(("127.0.0.1", 0)) as listener:
        peer = threading.Thread(target=_keep_alive_then_close, args=(listener, answered), daemon=True)
        peer.start()
        base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        node = parse_config({"nodes": [{**node_config(Peer(base_url), ["A"]), "concurrency": 1}]}).nodes[0]

        async def two_gets() -> list[tuple[int, bytes]]:
            client = NodeClient(node, asyncio.Semaphore(1))
            statuses = []
            try:
                for event in answered:
                    answer = await client.send("GET", "/x", {}, {}, time.monotonic() + 30)
                    statuses.append((answer.status, answer.body))
                    await asyncio.to_thread(event.wait)  # the node has closed it: the next GET needs a new one
            finally:
                await client.close()
            return statuses

        statuses = asyncio.run(two_gets())
        peer.join()
    assert statuses == [(200, b"[]"), (200, b"[]")]
