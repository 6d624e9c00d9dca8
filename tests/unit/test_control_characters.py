"""Node text with control characters: escaped in the console summary and text logs, sanitized for Zabbix."""

from __future__ import annotations

import io
import json
import logging

import pytest
from exalate_collector import logs
from exalate_collector.console import summary
from exalate_collector.endpoints import SYNC_ERRORS, SYNC_REQUESTS
from exalate_collector.telemetry.contract import load_contract
from exalate_collector.telemetry.points import run_telemetry
from exalate_collector.text import printable
from exalate_collector.zabbix.mapping import build_map, plan_values

from ..conftest import T0, exchange_for

HOSTILE = ["\x1b[2J", "\n2 polls, 0 failed, 0 metric points", "\r", "\u202e", "\u2028", "\x00", "\x7f", "\x9b"]


def raw_controls(text: str) -> list[str]:
    """Characters a terminal or a line-based reader acts on, other than the layout's own newlines."""
    return [c for c in text.replace("\n", "") if not c.isprintable()]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("AllContent", "AllContent"),
        ("\x1b[2J", "\\x1b[2J"),
        ("a\nb", "a\\nb"),
        ("r\u202eev", "r\\u202eev"),
        ("tab\there", "tab\\there"),
        ("Jira Ü ✓", "Jira Ü ✓"),  # printable text is left alone
    ],
)
def test_printable_escapes_only_what_is_not_printable(text, shown):
    assert printable(text) == shown


def hostile_run():
    relation = "Rel" + "".join(HOSTILE)
    message = "broken" + "".join(HOSTILE)
    errors = json.dumps([{"syncEventId": 1, "errorReason": "X\x1b[31m", "message": message}]).encode()
    exchanges = [
        exchange_for(SYNC_REQUESTS, b"[]", relation=relation),
        exchange_for(SYNC_ERRORS, errors, relation=relation),
    ]
    return exchanges, run_telemetry(exchanges, 0.1)


def test_the_console_summary_shows_node_text_escaped_and_cannot_be_forged():
    exchanges, telemetry = hostile_run()
    text = summary(exchanges, telemetry)
    assert raw_controls(text) == []
    assert "Rel\\x1b[2J\\n2 polls" in text
    # the one real count line, and no line a node wrote
    counts = [line for line in text.splitlines() if line.startswith("2 polls")]
    assert counts == [text.splitlines()[-1]] and counts[0].startswith("2 polls, 0 failed, 9 metric points")


def test_a_text_log_line_stays_one_line_without_control_characters():
    stream = io.StringIO()
    logs.configure("INFO", stream=stream)
    try:
        logging.getLogger("exalate_collector.test").warning(
            "poll failed: relation=%s", "R\x1b[2J\nFORGED ERROR line", extra={"exalate.relation": "R\r\n\x1b]0;x\x07"}
        )
    finally:
        logs.configure("INFO")
    (line,) = stream.getvalue().splitlines()
    assert raw_controls(line) == [] and "R\\x1b[2J\\nFORGED ERROR line" in line
    assert "exalate.relation=R\\r\\n\\x1b]0;x\\x07" in line


def test_zabbix_keys_discovery_data_and_values_carry_no_control_character():
    _, telemetry = hostile_run()
    plan = plan_values(telemetry, {"jira-prod": "jira-prod"}, T0, build_map(load_contract()))
    host = plan.hosts["jira-prod"]
    values = host.first + host.second
    assert values
    for value in values:
        assert raw_controls(value.key) == [] and raw_controls(value.value) == []
    keys = {v.key for v in host.second}
    # the key the collector sends is the key discovery creates from the (equally escaped) macro value
    discovery = {v.key: json.loads(v.value) for v in host.first if v.key.endswith("discovery")}
    relations = {row["{#RELATION}"] for rows in discovery.values() for row in rows if "{#RELATION}" in row}
    assert relations == {printable("Rel" + "".join(HOSTILE))}
    assert any(printable("Rel" + "".join(HOSTILE)) in key for key in keys)
