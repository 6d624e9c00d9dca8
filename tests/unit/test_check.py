"""``check``: a node's probe to table rows (pure), its fixes one place with docs/troubleshooting.md."""

from __future__ import annotations

import re
from typing import Any

import pytest
from exalate_collector import errors
from exalate_collector.check import HINTS, Probe, Report, Row, exit_code, render, rows, transport_step
from exalate_collector.config import parse_config
from exalate_collector.endpoints import CONNECTIONS, ENDPOINTS, SYNC_REQUESTS
from exalate_collector.model import Discovery
from exalate_collector.simulator import repaired_body

from ..conftest import ROOT, exchange_for

BASE = "https://jira.example.com/jira"


def node(**changes: Any):
    raw = {"name": "n", "base_url": BASE, "relations": ["AllContent"], "auth": {"type": "jwt", "secret": "${S}"}}
    return parse_config({"nodes": [{**raw, **changes}]}).nodes[0]


def polled(*failures: tuple[str, errors.PollFailure]):
    """Every relation endpoint of AllContent answered with its example, but those given failed."""
    failed = dict(failures)
    found = []
    for endpoint in ENDPOINTS:
        ex = exchange_for(endpoint, repaired_body(endpoint), relation="AllContent", node="n")
        ex.failure, ex.reading = (failed[endpoint], None) if endpoint in failed else (None, ex.reading)
        found.append(ex)
    return found


def listing(failure: errors.PollFailure | None = None):
    ex = exchange_for(CONNECTIONS, b'[{"id": 1, "name": "AllContent", "status": "ACTIVE"}]', relation="", node="n")
    if failure is not None:
        ex.failure, ex.reading = failure, None
    return ex


def probe(**fields: Any) -> Probe:
    fields.setdefault("node", node())
    fields.setdefault("host", "jira.example.com")
    fields.setdefault("addresses", ("192.0.2.7",))
    return Probe(**fields)


def table(p: Probe) -> list[tuple[str, str]]:
    return [(r.step, r.result) for r in rows(p)]


SKIPPED_ALL = [("login", "n/a (auth type jwt)"), ("discovery", "n/a (relations listed)")]
ALL_OK = [(f"GET {e} of AllContent", "ok: 1 item") for e in ENDPOINTS]

CASES: dict[str, tuple[Probe, list[tuple[str, str]]]] = {
    "every step passed": (
        probe(relation="AllContent", exchanges=polled()),
        [
            ("secret", "ok: ${S}"),
            ("dns", "ok: jira.example.com is 192.0.2.7"),
            ("connect", "ok"),
            ("tls", "ok: certificate verified"),
            *SKIPPED_ALL,
            *ALL_OK,
        ],
    ),
    "the secret cannot be read: nothing is tried": (
        probe(secret=errors.SecretUnavailable("environment variable S is not set or empty"), addresses=()),
        [
            ("secret", "secret_unavailable"),
            ("dns", "skipped (no secret)"),
            ("connect", "skipped (no secret)"),
            ("tls", "skipped (no secret)"),
            *SKIPPED_ALL,
            ("GET endpoints", "skipped (no secret)"),
        ],
    ),
    "the host name does not resolve": (
        probe(dns=errors.ConnectionFailed("the host name jira.example.com could not be resolved"), addresses=()),
        [
            ("secret", "ok: ${S}"),
            ("dns", "connection_failed"),
            ("connect", "skipped (no address)"),
            ("tls", "skipped (no address)"),
            *SKIPPED_ALL,
            ("GET endpoints", "skipped (no address)"),
        ],
    ),
    "the first request is refused a connection": (
        probe(unreached=errors.ConnectionFailed("connection to jira.example.com:443 failed: connection refused")),
        [
            ("secret", "ok: ${S}"),
            ("dns", "ok: jira.example.com is 192.0.2.7"),
            ("connect", "connection_failed"),
            ("tls", "skipped (no connection)"),
            *SKIPPED_ALL,
            ("GET endpoints", "skipped (no connection)"),
        ],
    ),
    "the certificate is not trusted": (
        probe(unreached=errors.TlsError("TLS with jira.example.com:443 failed: certificate verification failed")),
        [
            ("secret", "ok: ${S}"),
            ("dns", "ok: jira.example.com is 192.0.2.7"),
            ("connect", "ok"),
            ("tls", "tls_error"),
            *SKIPPED_ALL,
            ("GET endpoints", "skipped (no TLS)"),
        ],
    ),
    "plain http through a proxy, its host resolved": (
        probe(
            node=node(base_url="http://127.0.0.1:8089/jira"),
            proxy="http://proxy.example:3128",
            host="proxy.example",
            relation="AllContent",
            exchanges=polled(),
        ),
        [
            ("secret", "ok: ${S}"),
            ("dns", "ok: proxy.example is 192.0.2.7 (the proxy's host)"),
            ("connect", "ok: through the proxy http://proxy.example:3128"),
            ("tls", "n/a (http)"),
            *SKIPPED_ALL,
            *ALL_OK,
        ],
    ),
    "a wrong secret: every GET is refused": (
        probe(
            relation="AllContent",
            exchanges=polled(*((e, errors.Unauthorized("the node rejected the credentials", 401)) for e in ENDPOINTS)),
        ),
        [
            ("secret", "ok: ${S}"),
            ("dns", "ok: jira.example.com is 192.0.2.7"),
            ("connect", "ok"),
            ("tls", "ok: certificate verified"),
            *SKIPPED_ALL,
            *[(f"GET {e} of AllContent", "unauthorized (HTTP 401)") for e in ENDPOINTS],
        ],
    ),
    "an answer too slow is the endpoint's failure, not the connection's": (
        probe(relation="AllContent", exchanges=polled((SYNC_REQUESTS, errors.Timeout("body not complete", 200)))),
        [
            ("secret", "ok: ${S}"),
            ("dns", "ok: jira.example.com is 192.0.2.7"),
            ("connect", "ok"),
            ("tls", "ok: certificate verified"),
            *SKIPPED_ALL,
            (f"GET {SYNC_REQUESTS} of AllContent", "timeout (HTTP 200)"),
            *ALL_OK[1:],
        ],
    ),
    "the login is refused": (
        probe(
            node=node(auth={"type": "login", "username": "monitor", "password": "${P}"}),
            login=errors.LoginFailed("the node refused the login (HTTP 401)", 401),
        ),
        [
            ("secret", "ok: ${P}"),
            ("dns", "ok: jira.example.com is 192.0.2.7"),
            ("connect", "ok"),
            ("tls", "ok: certificate verified"),
            ("login", "login_failed (HTTP 401)"),
            ("discovery", "n/a (relations listed)"),
            ("GET endpoints", "skipped (no login)"),
        ],
    ),
    "relations: auto, the connection list refused": (
        probe(
            node=node(relations="auto", collect=["relations", "connections"]),
            listing=listing(errors.Forbidden("the node saw no credentials", 403)),
        ),
        [
            ("secret", "ok: ${S}"),
            ("dns", "ok: jira.example.com is 192.0.2.7"),
            ("connect", "ok"),
            ("tls", "ok: certificate verified"),
            ("login", "n/a (auth type jwt)"),
            ("discovery", "forbidden (HTTP 403)"),
            ("GET relation endpoints", "skipped (the connection list could not be read)"),
        ],
    ),
    "relations: auto, no connection passes the filters": (
        probe(
            node=node(relations="auto", collect=["relations", "connections"]),
            listing=listing(),
            discovery=Discovery("n", ()),
        ),
        [
            ("secret", "ok: ${S}"),
            ("dns", "ok: jira.example.com is 192.0.2.7"),
            ("connect", "ok"),
            ("tls", "ok: certificate verified"),
            ("login", "n/a (auth type jwt)"),
            ("discovery", "ok: 1 connections listed, 0 pass the discover filters"),
            ("GET relation endpoints", "skipped (no connection passes the discover filters)"),
        ],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_probe_becomes_one_row_per_step(case):
    found, expected = CASES[case]
    assert table(found) == expected
    for row in rows(found):  # a fix for each failure, and only for failures
        assert bool(row.hint) == row.failed
        assert row.hint == (HINTS[row.error_type] if row.error_type else "")


def test_no_failure_passes_and_any_fails():
    assert exit_code(Report([CASES["every step passed"][0]])) == 0
    assert exit_code(Report([CASES["every step passed"][0], CASES["the login is refused"][0]])) == 1
    assert exit_code(Report([], [Row("zabbix", "secret tls.psk", "secret_unavailable", "secret_unavailable")])) == 1


@pytest.mark.parametrize(
    ("failure", "step"),
    [
        (errors.ConnectionFailed("refused"), "connect"),
        (errors.Timeout("no status line and headers within timeout_s 10"), "connect"),
        (errors.TlsError("certificate verification failed"), "tls"),
        (errors.ConnectionFailed("closed before the answer was complete", 200), None),  # it was answered
        (errors.Unauthorized("401", 401), None),
        (None, None),
    ],
)
def test_which_step_a_first_request_without_an_answer_failed_at(failure, step):
    assert transport_step(failure) == step


def test_the_table_names_the_node_and_the_endpoint_and_says_the_secret_is_wrong():
    text = render(Report([CASES["a wrong secret: every GET is refused"][0]]))
    line = next(line for line in text.splitlines() if f"GET {SYNC_REQUESTS} of AllContent" in line)
    assert line.startswith("n ") and "unauthorized (HTTP 401)" in line and "the secret is wrong" in line
    assert text.count("the secret is wrong") == 1  # once per node and error.type; the other rows say so
    assert text.count("(as above)") == len(ENDPOINTS) - 1
    assert f"n GET {SYNC_REQUESTS} of AllContent (and {len(ENDPOINTS) - 1} more): unauthorized:" in text
    assert text.rstrip().endswith(f"check: 1 of 1 node failed (n: unauthorized x{len(ENDPOINTS)})")


def test_every_error_type_has_one_fix():
    assert list(HINTS) == errors.error_types()


def _plain(markdown: str) -> str:
    return re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", markdown).replace("`", "")


def test_the_fixes_are_those_of_the_troubleshooting_table():
    text = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    section = text.split("## Error types", 1)[1].split("\n## ", 1)[0]
    documented = {m[0]: _plain(m[1]) for m in re.findall(r"^\| `([a-z_]+)` \| .* \| (.*) \|$", section, flags=re.M)}
    assert documented == HINTS
