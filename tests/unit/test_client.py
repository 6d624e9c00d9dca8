"""The node client's pure parts: where a connection goes, which proxy, what may be sent, how a failure
is named. No socket is opened here (tests/integration/test_framing.py and test_proxy.py do that)."""

from __future__ import annotations

import asyncio
import base64

import aiohttp
import pytest
from exalate_collector import errors
from exalate_collector.client import NodeClient, proxy_for
from exalate_collector.config import parse_config
from exalate_collector.endpoints import LOGIN_PATH
from exalate_collector.request_failures import failure_of
from exalate_collector.strict_http import allowed
from exalate_collector.text import printable


def node(base_url: str = "https://jira.example.com/jira", **extra: object):
    raw = {"name": "n", "base_url": base_url, "relations": ["A"], "auth": {"type": "token", "token": "${T}"}}
    return parse_config({"nodes": [{**raw, **extra}]}).nodes[0]


@pytest.mark.parametrize(
    ("base_url", "origin"),
    [
        ("http://[::1]/jira", "http://[::1]:80"),  # an IPv6 literal's last group is never the port
        ("https://[2001:db8::7]/jira", "https://[2001:db8::7]:443"),
        ("http://[::1]:8080/jira", "http://[::1]:8080"),
        ("https://jira.example.com", "https://jira.example.com:443"),
    ],
)
def test_requests_go_to_the_host_and_port_of_base_url(base_url, origin):
    assert NodeClient(node(base_url, allow_insecure_http=True), asyncio.Semaphore(1)).origin == origin


@pytest.mark.parametrize(
    ("base_url", "configured", "env", "expected"),
    [
        ("https://jira.example.com", None, {"HTTPS_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
        ("https://jira.example.com", None, {"https_proxy": "http://proxy:3128"}, "http://proxy:3128"),
        ("https://jira.example.com", None, {"HTTP_PROXY": "http://proxy:3128"}, None),  # not for https
        ("http://localhost:2990/jira", None, {"HTTP_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
        ("https://jira.example.com", None, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}, None),
        ("https://jira.example.com", None, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "other.org"}, "http://p:1"),
        ("https://jira.example.com", "http://mine:8080", {"HTTPS_PROXY": "http://p:1"}, "http://mine:8080"),
        ("https://jira.example.com", "none", {"HTTPS_PROXY": "http://p:1"}, None),
        ("https://jira.example.com", None, {}, None),
    ],
)
def test_the_proxy_is_the_nodes_own_else_the_environments(base_url, configured, env, expected):
    extra = {"proxy": configured} if configured else {}
    found = proxy_for(node(base_url, allow_insecure_http=True, **extra), env)
    assert (found.url if found else None) == expected


def test_proxy_credentials_go_into_a_header_and_never_into_the_url_or_repr():
    found = proxy_for(node(proxy="http://monitor:s3cret-proxy-pass@proxy.example.com:3128"), {})
    assert found is not None
    assert found.url == "http://proxy.example.com:3128"
    assert found.headers == {"Proxy-Authorization": "Basic " + base64.b64encode(b"monitor:s3cret-proxy-pass").decode()}
    assert "s3cret" not in repr(found)


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("POST", "/jira/rest/issuehub/4.0/connections", {}),
        ("DELETE", "/jira" + LOGIN_PATH, {}),
        ("PUT", "/x", {}),
        ("POST", "/jira" + LOGIN_PATH, {"a": "b"}),
    ],
)
def test_only_get_and_the_login_post_may_be_sent(method, path, query):
    with pytest.raises(ValueError, match=f"refused {method}"):
        allowed(method, path, query)
    allowed("GET", path, query)
    allowed("POST", "/jira" + LOGIN_PATH, {})


@pytest.mark.parametrize(
    ("raised", "error_type"),
    [
        (TimeoutError(), "timeout"),
        (aiohttp.ServerDisconnectedError(), "connection_failed"),
        (aiohttp.ClientConnectionError(), "connection_failed"),
        (ConnectionResetError(104, "reset"), "connection_failed"),
        (aiohttp.ClientPayloadError("Response payload is not completed"), "connection_failed"),
        (errors.TooLarge("x"), "too_large"),
        (KeyError("a bug"), "internal_error"),
    ],
)
def test_every_failure_of_a_request_has_one_error_type(raised, error_type):
    assert failure_of(raised, node(), deadline_binds=False, status=None).error_type == error_type


def test_a_timeout_the_deadline_caused_is_deadline_exceeded():
    assert failure_of(TimeoutError(), node(), deadline_binds=True, status=200).error_type == "deadline_exceeded"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text", "plain text"),
        ("\x1b[2Jcleared", "\\x1b[2Jcleared"),
        ("two\nlines", "two\\nlines"),
        ("tab\there", "tab\\there"),
        ("naïve ✓", "naïve ✓"),
    ],
)
def test_node_text_is_shown_with_control_characters_escaped(text, shown):
    assert printable(text) == shown
