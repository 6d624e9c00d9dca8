"""discover.max: beyond it the first connections by name are polled, in the node's order, and the rest is
reported as left out (pure: a connection list in, the run's relations out)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from exalate_collector.config import parse_config
from exalate_collector.deadline import Deadline
from exalate_collector.discovery import discovered
from exalate_collector.endpoints import CONNECTIONS
from exalate_collector.model import Exchange
from exalate_collector.readings import Connection, Reading


def node(most: int | None):
    spec = {} if most is None else {"max": most}
    raw = {
        "name": "n",
        "base_url": "https://j.example.com",
        "relations": "auto",
        "discover": spec,
        "auth": {"type": "token", "token": "${T}"},
    }
    return parse_config({"nodes": [raw]}).nodes[0]


def listing(*names: str) -> Exchange:
    connections = tuple(Connection(n, "ACTIVE") for n in names)
    return Exchange(
        "n",
        "",
        CONNECTIONS,
        "https://j.example.com",
        datetime.now(UTC),
        0.0,
        reading=Reading(items=len(names), connections=connections),
    )


@pytest.mark.parametrize(
    ("most", "names", "polled", "left_out"),
    [
        (3, ["C", "A", "D", "B"], ("C", "A", "B"), 1),  # the first 3 by name, in the node's order
        (4, ["C", "A", "D", "B"], ("C", "A", "D", "B"), 0),
        (2, ["B", "B", "A", "A"], ("B", "A"), 0),  # a name listed twice is one connection
        (None, [f"R{i:04d}" for i in range(501)], tuple(f"R{i:04d}" for i in range(500)), 1),  # default 500
    ],
)
def test_at_most_discover_max_connections_are_polled_and_the_rest_said(most, names, polled, left_out):
    found = discovered(node(most), listing(*names), None, Deadline.NONE)
    assert found.relations == polled and not found.from_state
    if left_out:
        assert found.failure is not None and found.failure.error_type == "discovery_failed"
        assert f"{left_out} left out" in found.failure.detail
    else:
        assert found.failure is None
