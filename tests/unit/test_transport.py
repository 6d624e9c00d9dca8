"""The transport's connections go where base_url says, IPv6 literals included (no socket is opened)."""

from __future__ import annotations

import time

import pytest
from exalate_collector.transport import NodePool, Watchdog


@pytest.mark.parametrize(
    ("base_url", "host", "port"),
    [
        ("http://[::1]/jira", "::1", 80),  # http.client alone took '::1' as host ':' and port 1
        ("https://[2001:db8::7]/jira", "2001:db8::7", 443),
        ("http://[::1]:8080/jira", "::1", 8080),
        ("https://jira.example.com", "jira.example.com", 443),
    ],
)
def test_a_new_connection_goes_to_the_host_and_port_of_base_url(base_url, host, port):
    watchdog = Watchdog(time.monotonic)
    pool = NodePool(base_url, verify=True, size=1)
    connection = pool.take(1.0, watchdog, watchdog.watch(time.monotonic() + 1))
    try:
        assert (connection.host, connection.port) == (host, port)
    finally:
        connection.close()
