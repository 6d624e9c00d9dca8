"""Credentials are checked when they are read: one trailing newline (as Secrets Manager and ``echo`` often
leave) is stripped; any other control character stops that node with a message naming the field or the
reference, never the value. The value never reaches a log line, the telemetry or the node's other headers."""

from __future__ import annotations

import logging

import pytest
from exalate_collector.config import parse_config
from exalate_collector.errors import ConfigError
from exalate_collector.runner import collect
from exalate_collector.simulator import NodeSimulator

from .conftest import node_config

TOKEN = "a-static-token-of-the-monitoring-user"


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_token_with_a_trailing_newline_is_used_without_it_and_shown_nowhere(monkeypatch, caplog, ending):
    monkeypatch.setenv("EXALATE_TEST_TOKEN", TOKEN + ending)
    with NodeSimulator(["AllContent"], secret=None, static_token=TOKEN) as node:
        raw = node_config(node, ["AllContent"], auth={"type": "token", "token": "${EXALATE_TEST_TOKEN}"})
        with caplog.at_level(logging.DEBUG):
            result = collect(parse_config({"nodes": [raw]}), deadline_s=60)
    assert {ex.failure.error_type for ex in result.exchanges if ex.failure} == {"invalid_json"}  # the seed's own
    assert all(r.authenticated for r in node.seen)
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("value", [TOKEN + "\x07", TOKEN + "\nX-Forged: header", "\n" + TOKEN, TOKEN + "\n\n"])
def test_a_token_with_another_control_character_stops_its_node_and_names_only_the_reference(monkeypatch, caplog, value):
    monkeypatch.setenv("EXALATE_TEST_TOKEN", value)
    with NodeSimulator(["AllContent"], secret=None, static_token=TOKEN) as node:
        raw = node_config(node, ["AllContent"], auth={"type": "token", "token": "${EXALATE_TEST_TOKEN}"})
        with caplog.at_level(logging.DEBUG):
            result = collect(parse_config({"nodes": [raw]}), deadline_s=60)
    assert {ex.failure.error_type for ex in result.exchanges} == {"secret_unavailable"}
    details = {ex.failure.detail for ex in result.exchanges if ex.failure}
    assert len(details) == 1 and "environment variable EXALATE_TEST_TOKEN holds a control character" in details.pop()
    assert node.seen == []  # nothing was sent
    assert TOKEN not in caplog.text


def test_a_literal_credential_with_a_control_character_is_a_configuration_error_naming_the_field():
    raw = {
        "name": "n",
        "base_url": "https://jira.example.com",
        "relations": ["A"],
        "auth": {"type": "basic", "username": "monitor", "password": "pass\x1bword"},
    }
    with pytest.raises(ConfigError) as raised:
        parse_config({"nodes": [raw]})
    assert "auth.password" in str(raised.value) and "control character (0x1b)" in str(raised.value)
    assert "pass" not in str(raised.value).replace("password", "")
