"""HTTPS nodes: a request cut by its time bound leaves no TLS connection open after the run (a graceful
TLS close needs the event loop, which ends with the run: the client aborts them instead)."""

from __future__ import annotations

import os
import ssl

from exalate_collector.config import parse_config
from exalate_collector.endpoints import ENDPOINTS
from exalate_collector.runner import collect
from exalate_collector.simulator import Behaviour, NodeSimulator

from .conftest import SECRET, node_config
from .test_proxy import certificate  # noqa: F401 - a fixture

TRICKLE = {endpoint: Behaviour(trickle_s=0.4) for endpoint in ENDPOINTS}


def test_ten_runs_with_https_requests_cut_mid_body_leave_no_descriptor_behind(certificate):  # noqa: F811
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with NodeSimulator({"Slow": TRICKLE, "AllContent": {}}, secret=SECRET, tls=context) as node:
        raw = node_config(node, ["Slow", "AllContent"], timeout_s=0.5, concurrency=6)
        raw["verify_tls"] = str(certificate[0])
        config = parse_config({"nodes": [raw]})
        counts = []
        for _ in range(10):
            result = collect(config, deadline_s=60)
            slow = {ex.failure.error_type if ex.failure else "ok" for ex in result.exchanges if ex.relation == "Slow"}
            assert slow == {"timeout"}
            counts.append(_open_client_sockets(node.base_url))
    assert counts == [0] * 10, counts


def _open_client_sockets(base_url: str) -> int:
    """TCP connections still established towards the node's port (the simulator runs in this process,
    so a descriptor count would count its side too)."""
    port = int(base_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in open(table).read().splitlines()[1:]:  # noqa: SIM115 - a /proc file, read at once
            fields = line.split()
            remote_port, state = int(fields[2].rsplit(":", 1)[1], 16), fields[3]
            count += remote_port == port and state == "01"  # ESTABLISHED, from the client's side
    return count
