"""Configuration: every default, and a precise message (node and key) for every mistake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from exalate_collector.config import DEFAULT_MAX_BODY_BYTES, AuthConfig, Discover, load_config, parse_config
from exalate_collector.errors import ConfigError

from ..conftest import ROOT

EXAMPLE = ROOT / "docs" / "config.example.yaml"


def minimal(**node):
    base = {
        "name": "jira-prod",
        "base_url": "https://jira.example.com/jira",
        "relations": ["AllContent"],
        "auth": {"secret": "${S}"},
    }
    base.update(node)
    return {"nodes": [base]}


def test_defaults_are_the_documented_ones():
    node = parse_config(minimal()).nodes[0]
    assert (node.timeout_s, node.concurrency, node.verify_tls, node.max_body_bytes) == (
        10.0,
        8,
        True,
        DEFAULT_MAX_BODY_BYTES,
    )
    assert node.auth == AuthConfig(type="jwt", secret="${S}")
    assert (node.auth.issuer, node.auth.lifetime_s, node.auth.exp_unit, node.auth.qsh, node.auth.send_as) == (
        "exalate-collector",
        180,
        "s",
        False,
        "bearer",
    )
    assert node.context_path == "/jira"


def test_the_documented_complete_example_is_valid(monkeypatch):
    config = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    assert [n.name for n in config.nodes] == ["jira-prod", "jira-partner", "jira-onprem", "jira-cloud"]
    assert [n.auth.type for n in config.nodes] == ["jwt", "token", "basic", "login"]
    assert config.nodes[1].auth.send_as == "x-exalate-jwt"
    cloud = config.nodes[3]
    assert cloud.relations == () and cloud.discover == Discover(status=("ACTIVE",), name=None)
    assert cloud.collect == ("relations", "queues", "errors", "connections")
    assert (cloud.auth.username, cloud.auth.password) == ("", "secretsmanager:exalate/cloud-pat")


def test_a_node_polled_only_for_its_4_0_figures_lists_no_relation():
    raw = minimal(collect=["queues", "errors"])
    del raw["nodes"][0]["relations"]
    node = parse_config(raw).nodes[0]
    assert (node.relations, node.collect, node.discover) == ((), ("queues", "errors"), None)


def test_collect_defaults_to_relations_and_auto_discovers_active_connections():
    node = parse_config(minimal()).nodes[0]
    assert (node.collect, node.discover) == (("relations",), None)
    auto = parse_config(minimal(relations="auto", discover={"name": "^Prod"})).nodes[0]
    assert auto.discover is not None
    assert auto.discover.accepts("Prod-EU", "active") and not auto.discover.accepts("Prod-EU", "DEACTIVATED")
    assert not auto.discover.accepts("Test", "ACTIVE")
    anything = parse_config(minimal(relations="auto", discover={"status": []})).nodes[0].discover
    assert anything is not None and anything.accepts("X", "DEACTIVATED")
    login = parse_config(minimal(auth={"type": "login", "password": "${P}"})).nodes[0].auth
    assert (login.type, login.username, login.password) == ("login", "", "${P}")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timeout_s": 0}, "nodes[0] (jira-prod): timeout_s: must be a number"),
        ({"timeout_s": "10"}, "nodes[0] (jira-prod): timeout_s:"),
        ({"concurrency": 0}, "nodes[0] (jira-prod): concurrency: must be an integer from 1 to 256"),
        ({"concurrency": True}, "nodes[0] (jira-prod): concurrency:"),
        ({"base_url": "jira.example.com"}, "nodes[0] (jira-prod): base_url: required"),
        ({"base_url": "https://j.example.com/jira?x=1"}, "nodes[0] (jira-prod): base_url: must not carry a query"),
        ({"relations": []}, "nodes[0] (jira-prod): relations: required"),
        ({"relations": ["A", "A"]}, "nodes[0] (jira-prod): relations: duplicate"),
        ({"relations": ["A", ""]}, "nodes[0] (jira-prod): relations: every relation must be a non-empty string"),
        ({"relations": ["."]}, "nodes[0] (jira-prod): relations: '.' and '..' are not relation names"),
        ({"relations": ["A", ".."]}, "nodes[0] (jira-prod): relations: '.' and '..' are not relation names"),
        ({"relations": [" "]}, "nodes[0] (jira-prod): relations: every relation must be a non-empty string"),
        # auto in a list would be polled as a connection named "auto" (connection_not_found every run)
        ({"relations": ["auto"]}, "nodes[0] (jira-prod): relations: auto stands alone"),
        ({"relations": ["auto", "GROOVY"]}, "nodes[0] (jira-prod): relations: auto stands alone"),
        ({"base_url": "http://[::1"}, "nodes[0] (jira-prod): base_url: not a valid URL"),
        ({"base_url": "https://jira.example.com:99999/"}, "nodes[0] (jira-prod): base_url: not a valid URL"),
        ({"base_url": "https://jira.example.com:port/"}, "nodes[0] (jira-prod): base_url: not a valid URL"),
        ({"base_url": "https://jira.exa mple.com/"}, "nodes[0] (jira-prod): base_url: must not contain whitespace"),
        ({"base_url": "ftp://jira.example.com/"}, "nodes[0] (jira-prod): base_url: required"),
        ({"base_url": "https:///jira"}, "nodes[0] (jira-prod): base_url: required"),
        ({"base_url": 42}, "nodes[0] (jira-prod): base_url: required"),
        (
            {"base_url": "https://admin:PW@jira.example.com"},
            "nodes[0] (jira-prod): base_url: must not carry credentials",
        ),
        ({"base_url": "https://admin@jira.example.com"}, "nodes[0] (jira-prod): base_url: must not carry credentials"),
        ({"base_url": "http://jira.example.com"}, "nodes[0] (jira-prod): base_url: plain http sends"),
        (
            {"base_url": "http://jira.example.com", "allow_insecure_http": "yes"},
            "nodes[0] (jira-prod): allow_insecure_http: must be true or false",
        ),
        ({"timeout_s": float("nan")}, "nodes[0] (jira-prod): timeout_s:"),
        ({"timeout_s": float("inf")}, "nodes[0] (jira-prod): timeout_s:"),
        ({"stuck_after_s": float("nan")}, "nodes[0] (jira-prod): stuck_after_s:"),
        ({"stuck_after_s": float("inf")}, "nodes[0] (jira-prod): stuck_after_s:"),
        ({"stuck_after_s": float("-inf")}, "nodes[0] (jira-prod): stuck_after_s:"),
        ({"auth": {"secret": "x", "claims": {"n": float("nan")}}}, "nodes[0] (jira-prod): auth.claims: numbers"),
        ({"auth": {"secret": "x", "claims": {"a": [{"b": float("inf")}]}}}, "nodes[0] (jira-prod): auth.claims:"),
        ({"verify_tls": 1}, "nodes[0] (jira-prod): verify_tls:"),
        ({"max_body_bytes": 10}, "nodes[0] (jira-prod): max_body_bytes:"),
        ({"timeut_s": 3}, "nodes[0] (jira-prod): timeut_s: unknown key"),
        ({"auth": None}, "nodes[0] (jira-prod): auth: required"),
        (
            {"auth": {"type": "oauth"}},
            "nodes[0] (jira-prod): auth.type: 'oauth' is not one of jwt, token, basic, lo",
        ),
        ({"collect": ["relations", "logs"]}, "nodes[0] (jira-prod): collect: must be a non-empty list of relations,"),
        ({"collect": []}, "nodes[0] (jira-prod): collect: must be a non-empty list"),
        (
            {"relations": "auto", "collect": ["queues"]},
            "nodes[0] (jira-prod): collect: relations: auto needs",
        ),
        # listed relations that collect would never poll
        ({"collect": ["queues", "errors"]}, "nodes[0] (jira-prod): collect: relations are listed but collect"),
        ({"discover": {"status": ["ACTIVE"]}}, "nodes[0] (jira-prod): discover: only with relations: auto"),
        ({"relations": "auto", "discover": {"name": "("}}, "nodes[0] (jira-prod): discover.name: not a regular"),
        ({"relations": "auto", "discover": {"status": "ACTIVE"}}, "nodes[0] (jira-prod): discover.status: must be"),
        ({"relations": "auto", "discover": {"kind": 1}}, "nodes[0] (jira-prod): discover.kind: unknown key"),
        ({"relations": "all"}, "nodes[0] (jira-prod): relations: required"),
        ({"auth": {"type": "login"}}, "nodes[0] (jira-prod): auth.password: required"),
        ({"auth": {"type": "login", "username": 3, "password": "p"}}, "nodes[0] (jira-prod): auth.username: must be"),
        ({"auth": {"type": "jwt"}}, "nodes[0] (jira-prod): auth.secret: required"),
        ({"auth": {"secret": "x", "send_as": "cookie"}}, "nodes[0] (jira-prod): auth.send_as: 'cookie'"),
        ({"auth": {"secret": "x", "exp_unit": "us"}}, "nodes[0] (jira-prod): auth.exp_unit:"),
        ({"auth": {"secret": "x", "lifetime_s": 5}}, "nodes[0] (jira-prod): auth.lifetime_s:"),
        ({"auth": {"secret": "x", "qsh": "yes"}}, "nodes[0] (jira-prod): auth.qsh: must be true or false"),
        ({"auth": {"secret": "x", "claims": {"exp": 1}}}, "nodes[0] (jira-prod): auth.claims.exp: is set by"),
        ({"auth": {"secret": "x", "claims": []}}, "nodes[0] (jira-prod): auth.claims: must be a mapping"),
        ({"auth": {"type": "token"}}, "nodes[0] (jira-prod): auth.token: required"),
        ({"auth": {"type": "basic", "username": "u"}}, "nodes[0] (jira-prod): auth.password: required"),
        (
            {"auth": {"type": "basic", "username": "u", "password": "p", "send_as": "query"}},
            "nodes[0] (jira-prod): auth.send_as: unknown key for auth type basic",
        ),
        (
            {"auth": {"type": "token", "token": "t", "secret": "s"}},
            "nodes[0] (jira-prod): auth.secret: unknown key for auth type token",
        ),
    ],
)
def test_each_mistake_names_the_node_and_the_key(change, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(minimal(**change))
    assert any(p.startswith(message) for p in caught.value.problems), caught.value.problems


def test_a_url_with_credentials_is_refused_without_echoing_them():
    with pytest.raises(ConfigError) as caught:
        parse_config(minimal(base_url="http://admin:URLPASSWORD@jira.example.com/jira"))
    assert "URLPASSWORD" not in str(caught.value)
    assert "auth: {type: basic" in str(caught.value)


def test_plain_http_needs_consent_except_on_loopback():
    node = parse_config(minimal(base_url="http://jira.internal:8080/jira", allow_insecure_http=True)).nodes[0]
    assert node.allow_insecure_http is True and node.context_path == "/jira"
    for loopback in ("http://127.0.0.1:8080", "http://localhost/jira", "http://[::1]:8080"):
        assert parse_config(minimal(base_url=loopback)).nodes[0].allow_insecure_http is False
    assert parse_config(minimal()).nodes[0].allow_insecure_http is False  # https needs nothing


@pytest.mark.parametrize("text", ["stuck_after_s: .nan", "stuck_after_s: .inf", "timeout_s: -.inf"])
def test_yaml_nan_and_infinities_are_refused(tmp_path: Path, text):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(minimal()).replace("name: jira-prod", f"name: jira-prod\n  {text}"))
    with pytest.raises(ConfigError, match=r"nodes\[0\] \(jira-prod\): (stuck_after_s|timeout_s):"):
        load_config(str(path))


def test_all_problems_are_reported_at_once():
    raw = {"nodes": [minimal(timeout_s=-1)["nodes"][0], {"name": "b", "relations": "x", "auth": {}}], "extra": 1}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    problems = caught.value.problems
    assert "configuration: extra: unknown key" in problems
    assert any(p.startswith("nodes[0] (jira-prod): timeout_s") for p in problems)
    assert any(p.startswith("nodes[1] (b): base_url") for p in problems)
    assert any(p.startswith("nodes[1] (b): relations") for p in problems)
    assert any(p.startswith("nodes[1] (b): auth.secret") for p in problems)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "configuration: expected a mapping"),
        ({}, "configuration: nodes: required"),
        ({"nodes": []}, "configuration: nodes: required"),
        ({"nodes": ["x"]}, "nodes[0]: (node): expected a mapping"),
        ({"nodes": [{"relations": ["A"]}]}, "nodes[0]: name: required"),
    ],
)
def test_structural_mistakes(raw, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert any(p.startswith(message) for p in caught.value.problems), caught.value.problems


def test_duplicate_node_names():
    raw = {"nodes": [minimal()["nodes"][0], minimal()["nodes"][0]]}
    with pytest.raises(ConfigError, match=r"nodes\[1\] \(jira-prod\): name: duplicate node name"):
        parse_config(raw)


def test_secrets_never_show_in_repr():
    node = parse_config(minimal(auth={"secret": "s3cr3t-literal"})).nodes[0]
    assert "s3cr3t" not in repr(node)


def test_load_yaml_and_json_files(tmp_path: Path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text(yaml.safe_dump(minimal()))
    json_file = tmp_path / "c.json"
    json_file.write_text(json.dumps(minimal()))
    assert load_config(str(yaml_file)) == load_config(str(json_file))


def test_load_from_ssm_through_the_reader():
    seen = []

    def read(name: str) -> str:
        seen.append(name)
        return json.dumps(minimal())

    config = load_config("ssm:/exalate/config", read_parameter=read)
    assert seen == ["/exalate/config"] and config.nodes[0].relations == ("AllContent",)


@pytest.mark.parametrize(
    ("text", "message"),
    [("nodes: [", "invalid YAML"), ('{"nodes": [}', "invalid JSON at line 1 column 12")],
)
def test_syntax_errors_name_the_file(tmp_path: Path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(str(path))
    assert str(path) in str(caught.value)


def test_missing_file_and_missing_setting():
    with pytest.raises(ConfigError, match="cannot read"):
        load_config("/nonexistent/config.yaml")
    with pytest.raises(ConfigError, match="EXALATE_COLLECTOR_CONFIG is not set"):
        load_config(None)


def test_missing_ca_bundle_is_a_config_error(tmp_path: Path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(minimal(verify_tls=str(tmp_path / "nope.pem"))))
    with pytest.raises(ConfigError, match=r"nodes\[0\] \(jira-prod\): verify_tls: no CA bundle"):
        load_config(str(path))


def test_events_and_stuck_after():
    config = parse_config({**minimal(stuck_after_s=60), "events": {"repeat": True}})
    assert config.repeat_events is True and config.nodes[0].stuck_after_s == 60.0
    assert parse_config(minimal()).repeat_events is False
    for raw, message in [
        ({**minimal(), "events": {"repeat": "yes"}}, "configuration: events.repeat"),
        ({**minimal(), "events": {"reapeat": True}}, "configuration: events.reapeat: unknown"),
        ({**minimal(), "events": []}, "configuration: events: must be a mapping"),
        (minimal(stuck_after_s=0), "nodes[0] (jira-prod): stuck_after_s"),
    ]:
        with pytest.raises(ConfigError) as caught:
            parse_config(raw)
        assert any(p.startswith(message) for p in caught.value.problems), caught.value.problems


def test_limits_default_and_documented():
    assert parse_config(minimal()).limits.max_in_flight == 64
    example = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    assert example.limits.max_in_flight == 64
    assert parse_config(minimal()).limits.memory_budget_mb is None  # derived: see test_budget


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_in_flight": 0}, "configuration: limits.max_in_flight: must be an integer from 1 to 1024"),
        ({"max_in_flight": True}, "configuration: limits.max_in_flight:"),
        ({"threads": 3}, "configuration: limits.threads: unknown key"),
        ({"memory_budget_mb": 0}, "configuration: limits.memory_budget_mb: must be an integer from 1 to 65536"),
        ([1], "configuration: limits: must be a mapping"),
    ],
)
def test_bad_limits_are_named(limits, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        parse_config({**minimal(), "limits": limits})
