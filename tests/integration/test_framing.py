"""Answers that are not valid HTTP/1.1, on real sockets: each is ``invalid_response``, never read to the end
of the stream, and the healthy relation beside it is complete.

The hostile peer (tests/integration/hostile.py) runs in its own process. After each broken answer it
sends 64 MB of filler: a client that took the broken framing for "read to EOF" would read (and hold) it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from exalate_collector.client import NodeClient
from exalate_collector.config import parse_config
from exalate_collector.endpoints import ENDPOINTS
from exalate_collector.runner import collect
from exalate_collector.strict_http import StrictResponseHandler

from .conftest import config_for, node_config
from .hostile import FRAMING
from .test_hostile_nodes import Peer, hostile, outcomes


@pytest.mark.parametrize("mode", sorted(FRAMING))
def test_an_answer_that_is_not_valid_http_is_invalid_response_and_the_healthy_relation_is_complete(mode):
    with hostile() as peer:
        node = node_config(peer, [mode, "Healthy"], timeout_s=20, concurrency=4)
        result = collect(config_for(node), deadline_s=120)
    assert outcomes(result.exchanges, mode) == ["invalid_response"] * len(ENDPOINTS)
    assert outcomes(result.exchanges, "Healthy") == ["ok"] * len(ENDPOINTS)
    for ex in result.exchanges:
        if ex.failure:  # the detail is ours (or aiohttp's own words), never the node's bytes
            assert ex.failure.detail.isprintable() and "forged" not in ex.failure.detail, ex.failure.detail
            assert ex.body == b"" and ex.body_file is None


def test_bytes_sent_on_an_idle_keep_alive_connection_are_never_taken_for_the_next_answer():
    """The peer answers, then, while the connection is idle, sends an answer nobody asked for ([999]):
    the connection is dropped at once, and the next GET goes out on a new one and gets its own answer."""
    with hostile(pause=0.2) as peer:
        node = parse_config({"nodes": [node_config(peer, ["A"], concurrency=1)]}).nodes[0]

        async def two_gets() -> list[tuple[bytes, bool]]:
            client = NodeClient(node, asyncio.Semaphore(1))
            seen = []
            try:
                for _ in range(2):
                    answer = await client.send(
                        "GET", "/jira/rest/issuehub/2.4/relations/Stray/x", {}, {}, time.monotonic() + 30
                    )
                    seen.append((answer.body, answer.reused))
                    await asyncio.sleep(0.6)  # idle: the stray answer arrives now
            finally:
                await client.close()
            return seen

        seen = asyncio.run(two_gets())
    assert seen == [(b"[]", False), (b"[]", False)]


def test_a_second_answer_to_one_request_is_never_taken_for_the_next_ones():
    """Both answers come in one write: the first stands (or, where the two arrive in one read, the request
    is invalid_response); the second, [999], is never any request's answer."""
    with hostile() as peer:
        result = collect(config_for(node_config(peer, ["TwoAnswers"], concurrency=1)), deadline_s=120)
    assert set(outcomes(result.exchanges, "TwoAnswers")) <= {"ok", "invalid_response"}
    assert {ex.body for ex in result.exchanges if ex.ok} <= {b"[]"}
    assert all(ex.reading.items == 0 for ex in result.exchanges if ex.ok)


class _Transport(asyncio.Transport):
    """Just enough of a transport for the protocol object (unit level: no socket)."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def test_an_answer_that_arrived_before_the_request_went_out_is_refused():
    async def early() -> BaseException | None:
        protocol = StrictResponseHandler(asyncio.get_running_loop())
        protocol.connection_made(_Transport())
        protocol.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n[999]")  # no request yet
        protocol.set_response_params()  # the request goes out now
        protocol.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]")
        try:
            await protocol.read()
        except Exception as exc:
            return exc
        return None

    raised = asyncio.run(early())
    assert raised is not None and "before the request went out" in str(raised)


PEAK_RSS = textwrap.dedent(
    """
    import json, resource, sys
    from exalate_collector.config import parse_config
    from exalate_collector.runner import collect
    result = collect(parse_config(json.loads(sys.argv[1])), deadline_s=60)
    print(json.dumps({"outcomes": sorted({ex.failure.error_type if ex.failure else "ok" for ex in result.exchanges}),
                      "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    """
)


def _peak(peer: Peer, relation: str) -> dict:
    raw = {
        "nodes": [node_config(peer, [relation], max_body_bytes=1 << 20, concurrency=6)],
        "limits": {"memory_budget_mb": 16},
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_"))}
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, json.dumps(raw)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_a_negative_chunk_size_is_refused_at_once_without_reading_the_stream_behind_it():
    """max_body_bytes 1 MB and a 16 MB answer memory; behind '-1' come 64 MB: the run's peak memory stays
    within 64 MB of an idle run's (measured in child processes, side by side)."""
    with hostile() as peer:
        idle = _peak(peer, "Healthy")
        hostile_run = _peak(peer, "NegativeChunk")
    assert idle["outcomes"] == ["ok"] and hostile_run["outcomes"] == ["invalid_response"]
    assert hostile_run["peak_kb"] - idle["peak_kb"] < 64 * 1024, (idle, hostile_run)
