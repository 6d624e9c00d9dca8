"""The Zabbix mapping, template and sender logic (pure parts, and the sender with a recording double)."""

from __future__ import annotations

import json
import re
import socket
import ssl
import struct
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
import yaml
from exalate_collector.config import ZabbixConfig, ZabbixTls, parse_config
from exalate_collector.deadline import Deadline
from exalate_collector.endpoints import SYNC_ERRORS, SYNC_REQUESTS
from exalate_collector.errors import ConfigError, ZabbixSendFailed
from exalate_collector.state.model import StateReport, advance, observations
from exalate_collector.telemetry.contract import load_contract
from exalate_collector.telemetry.points import run_telemetry
from exalate_collector.zabbix import mapping
from exalate_collector.zabbix.mapping import ERROR_LOG, EXTRA_ITEMS, build_map, item_key, plan_values, quote_param
from exalate_collector.zabbix.sender import ZabbixOutput, report_telemetry, tls_wrapper
from exalate_collector.zabbix.template import TEMPLATE, build_template, render
from exalate_collector.zabbix.triggers import MACROS

from ..conftest import ROOT, T0, exchange_for, seed_exchanges

TEMPLATE_FILE = ROOT / "integrations" / "zabbix" / "exalate_node_by_collector.yaml"


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("AllContent", "AllContent"),
        ("syncevents/syncrequests", "syncevents/syncrequests"),
        ("a,b", '"a,b"'),
        ("x]", '"x]"'),
        ("[x", '"[x"'),
        (" lead", '" lead"'),
        ('"q"', '"\\"q\\""'),
        ('in"side', 'in"side'),  # Zabbix quotes only for a leading quote, a comma, ']' or a leading '[' / space
        ("ends\\", "ends\\"),  # no quoting needed: left as it is, like zbx_quote_key_param
        ("a,b\\", None),  # needs quotes and ends with a backslash: Zabbix cannot express it
        ("", ""),
    ],
)
def test_key_parameters_are_quoted_exactly_as_zabbix_quotes_discovered_values(value, quoted):
    assert quote_param(value) == quoted


def test_the_issue_s_example_keys():
    assert item_key("exalate.queue.size", ["AllContent", SYNC_REQUESTS]) == (
        "exalate.queue.size[AllContent,syncevents/syncrequests]"
    )
    assert (
        item_key("exalate.sync.errors", ["AllContent", "SCRIPT_ERROR"])
        == "exalate.sync.errors[AllContent,SCRIPT_ERROR]"
    )
    assert item_key("exalate.relation.up", ["AllContent"]) == "exalate.relation.up[AllContent]"
    assert item_key("exalate.relation.up", ["a,b\\"]) is None


def test_every_contract_metric_has_a_zabbix_item_or_a_reason():
    contract = load_contract()
    zmap = build_map(contract)
    for name in contract.metrics:
        assert (name in zmap.items) != (name in zmap.unmapped), name
    assert all(len(reason) > 20 for reason in zmap.unmapped.values())
    template = build_template(contract)["zabbix_export"]["templates"][0]
    keys = {i["key"] for i in template["items"]}
    keys |= {p["key"] for rule in template["discovery_rules"] for p in rule["item_prototypes"]}
    for name, spec in zmap.items.items():
        expected = spec.key_with({a: mapping.macro(a) for a in spec.parameters})
        assert expected in keys, name
        assert expected.split("[")[0] == name  # the key is the contract's metric name


def test_units_descriptions_and_rules_come_from_the_contract():
    contract = load_contract()
    zmap = build_map(contract)
    queue = zmap.items["exalate.queue.size"]
    assert queue.parameters == ("exalate.relation", "exalate.endpoint")
    assert queue.description == contract.metrics["exalate.queue.size"].description
    assert zmap.items["exalate.queue.oldest_age"].units == "s"
    assert zmap.items["exalate.queue.oldest_age"].value_type == "FLOAT"
    assert zmap.items["exalate.collector.run.duration"].rule is None
    errors_item = zmap.items["exalate.poll.errors"]
    assert (errors_item.value_type, errors_item.folded, errors_item.parameters) == (
        "CHAR",
        "error.type",
        ("exalate.relation", "exalate.endpoint"),
    )
    # Reasons come from the data: sync and blob errors are discovered separately.
    assert zmap.items["exalate.sync.errors"].rule != zmap.items["exalate.blob.errors"].rule
    assert zmap.items["exalate.queue.size"].rule == zmap.items["exalate.endpoint.up"].rule


def test_a_new_contract_metric_needs_no_edit_of_the_zabbix_code():
    contract = load_contract()
    spec = contract.metrics["exalate.queue.size"]
    new = type(spec)(
        name="exalate.connection.status",
        instrument="gauge",
        unit="1",
        description="d",
        attributes=("exalate.node", "exalate.relation"),
    )
    extended = type(contract)(contract.attributes, {**contract.metrics, new.name: new}, contract.events)
    zmap = build_map(extended)
    assert zmap.items[new.name].rule == "exalate.discovery.relation"
    assert "exalate.connection.status[{#RELATION}]" in render(extended)


def test_the_committed_template_is_the_generated_one():
    assert TEMPLATE_FILE.read_text(encoding="utf-8") == render(), "run `make zabbix-template`"


def test_template_shape():
    export = yaml.safe_load(TEMPLATE_FILE.read_text(encoding="utf-8"))["zabbix_export"]
    assert export["version"] == "6.0"
    template = export["templates"][0]
    assert template["template"] == TEMPLATE == "Exalate node by exalate-collector"
    text = TEMPLATE_FILE.read_text(encoding="utf-8")
    used = set(re.findall(r"\{\$[A-Z.]+", text))
    assert used == {m.split("}")[0] for m in MACROS}, "every macro used is defined with a default, and back"
    uuids = re.findall(r"uuid: ([0-9a-f]+)", text)
    assert len(uuids) == len(set(uuids))
    assert all(re.fullmatch(r"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}", u) for u in uuids)
    for rule in template["discovery_rules"]:
        assert rule["type"] == "TRAP" and rule["lifetime"] == "{$EXALATE.LLD.LIFETIME}"
        macros = set(re.findall(r"\{#[A-Z]+\}", json.dumps(rule["item_prototypes"])))
        assert macros <= {mapping.macro(a) for a in build_map(load_contract()).rules[rule["key"]].parameters}
    names = {
        t["name"]
        for rule in template["discovery_rules"]
        for p in rule["item_prototypes"]
        for t in p.get("trigger_prototypes", [])
    }
    names |= {t["name"] for rule in template["discovery_rules"] for t in rule.get("trigger_prototypes", [])}
    names |= {t["name"] for i in template["items"] for t in i.get("triggers", [])}
    assert {
        "Relation {#RELATION} was removed on the other side",
        "Authentication to the Exalate node is failing",
        "Endpoint {#ENDPOINT} of relation {#RELATION} is down",
        "Sync errors {#REASON} on relation {#RELATION}",
        "Attachment errors {#REASON} on relation {#RELATION}",
        "Queue {#ENDPOINT} of relation {#RELATION} has stuck items",
        "No data from exalate-collector for {$EXALATE.NODATA}",
    } <= names
    log_items = [i for i in template["items"] if i["key"] == ERROR_LOG]
    assert log_items[0]["value_type"] == "LOG"
    assert template["dashboards"] and template["valuemaps"] and export["graphs"]


def _telemetry_with_memory():
    exchanges = seed_exchanges() + [
        exchange_for(
            SYNC_REQUESTS, b"Connection `X` not found.", status=400, content_type="text/plain", relation="Gone"
        ),
        exchange_for(SYNC_REQUESTS, b"", status=401, content_type="text/plain", relation="Locked"),
    ]
    return exchanges, run_telemetry(exchanges, 0.5)


def test_plan_one_host_per_node_node_items_first_then_discovered_values():
    _, telemetry = _telemetry_with_memory()
    plan = plan_values(telemetry, {"jira-prod": "exalate-jira-prod"}, T0, build_map(load_contract()))
    host = plan.hosts["exalate-jira-prod"]
    first = {v.key: v.value for v in host.first}
    second = {v.key: v.value for v in host.second}
    assert json.loads(first["exalate.discovery.relation"]) == [
        {"{#RELATION}": "AllContent"},
        {"{#RELATION}": "Gone"},
        {"{#RELATION}": "Locked"},  # discovered from its endpoints although relation.up is not reported
    ]
    assert {"{#RELATION}": "AllContent", "{#REASON}": "NO_ISSUE_TO_CONNECT_TO"} in json.loads(
        first["exalate.sync.errors.discovery"]
    )
    assert (first["exalate.collector.polls"], first["exalate.collector.failures"]) == ("8", "3")
    assert first["exalate.collector.auth_failures"] == "1"
    assert first["exalate.collector.heartbeat"] == str(int(T0.timestamp()))
    assert first[ERROR_LOG].startswith("AC-113 NO_ISSUE_TO_CONNECT_TO [AllContent] Could not connect")
    assert second["exalate.queue.size[AllContent,syncevents/syncrequests]"] == "1"
    assert second["exalate.relation.up[Gone]"] == "0"
    assert "exalate.relation.up[Locked]" not in second
    assert second["exalate.poll.errors[Locked,syncevents/syncrequests]"] == "unauthorized"
    assert "exalate.poll.errors[AllContent,syncevents/syncrequests]" not in second  # only failures
    assert {v.clock for v in host.first + host.second} == {int(T0.timestamp())}
    assert set(first) <= {s.key for s in EXTRA_ITEMS} | set(build_map(load_contract()).rules) | {
        "exalate.collector.run.duration",
        "exalate.archive.failures",
    }


def test_a_resolved_error_reason_gets_a_zero_so_its_trigger_resolves():
    before = seed_exchanges()
    memory = StateReport()
    memory.advances["jira-prod"] = advance(None, "jira-prod", ["AllContent"], observations(before), 0.0, 1800)
    state = memory.advances["jira-prod"].state
    after = [e for e in seed_exchanges() if e.endpoint != SYNC_ERRORS] + [exchange_for(SYNC_ERRORS, b"[]")]
    fixed = StateReport()
    fixed.advances["jira-prod"] = advance(state, "jira-prod", ["AllContent"], observations(after), 300.0, 1800)
    telemetry = run_telemetry(after, 0.5, report=fixed)
    plan = plan_values(telemetry, {"jira-prod": "jira-prod"}, T0, build_map(load_contract()))
    second = {v.key: v.value for v in plan.hosts["jira-prod"].second}
    assert second["exalate.sync.errors[AllContent,NO_ISSUE_TO_CONNECT_TO]"] == "0"
    discovery = {v.key: v.value for v in plan.hosts["jira-prod"].first}["exalate.sync.errors.discovery"]
    assert {"{#RELATION}": "AllContent", "{#REASON}": "NO_ISSUE_TO_CONNECT_TO"} in json.loads(discovery)


def test_a_key_zabbix_cannot_express_is_reported_not_sent():
    telemetry = run_telemetry([exchange_for(SYNC_REQUESTS, b"[]", relation="odd,name\\")], 0.1)
    plan = plan_values(telemetry, {"jira-prod": "jira-prod"}, T0, build_map(load_contract()))
    assert plan.unsendable and all("odd,name" not in v.key for v in plan.hosts["jira-prod"].second)


class Answer:
    def __init__(self, processed: int, failed: int) -> None:
        self.processed, self.failed, self.total = processed, failed, processed + failed


class RecordingSender:
    """Answers like a Zabbix server that knows only the keys in ``known``."""

    def __init__(self, known: set[str] | None = None, error: Exception | None = None, **kwargs: object) -> None:
        self.known, self.error, self.kwargs = known, error, kwargs
        self.batches: list[list[object]] = []

    def send(self, items: list) -> Answer:
        if self.error:
            raise self.error
        self.batches.append(items)
        taken = sum(1 for i in items if self.known is None or i.key in self.known or i.key.split("[")[0] in self.known)
        return Answer(taken, len(items) - taken)


def _output(sender: RecordingSender) -> ZabbixOutput:
    return ZabbixOutput(ZabbixConfig("zabbix.example.com"), sender_factory=lambda **kw: sender)


def _plan():
    _, telemetry = _telemetry_with_memory()
    return plan_values(telemetry, {"jira-prod": "jira-prod"}, T0, build_map(load_contract()))


def test_refused_discovered_values_are_the_first_run_delay_not_a_failure():
    node_keys = (
        {s.key for s in EXTRA_ITEMS} | set(build_map(load_contract()).rules) | {"exalate.collector.run.duration"}
    )
    sender = RecordingSender(known=node_keys)
    report = _output(sender).send(_plan(), Deadline.NONE)
    assert report.ok and report.failure is None
    assert report.pending["jira-prod"] > 0 and report.failed == report.pending["jira-prod"]
    assert [len(b) for b in sender.batches][2] == 1 and sender.batches[2][0].key == mapping.REFUSED
    assert sender.batches[2][0].value == str(report.pending["jira-prod"])


def test_refused_node_items_or_an_unreachable_server_are_zabbix_send_failed():
    report = _output(RecordingSender(known=set())).send(_plan(), Deadline.NONE)
    assert isinstance(report.failure, ZabbixSendFailed)
    assert "host jira-prod" in report.failure.detail and "template is not linked" in report.failure.detail
    down = _output(RecordingSender(error=ConnectionRefusedError("refused"))).send(_plan(), Deadline.NONE)
    assert isinstance(down.failure, ZabbixSendFailed) and "ConnectionRefusedError" in down.failure.detail
    points, events = report_telemetry(down)
    assert {p.name for p in points} == {"exalate.zabbix.values", "exalate.zabbix.failures"}
    assert [e.attributes["error.type"] for e in events] == ["zabbix_send_failed"]


def test_a_host_that_took_no_value_and_one_that_took_some_are_told_apart():
    """All refused: the server does not have the host (yet: a host just created is loaded with the next
    configuration cache update). Some refused: the host is there, its template lacks items."""
    unknown = _output(RecordingSender(known=set())).send(_plan(), Deadline.NONE)
    assert unknown.unknown_hosts == ["jira-prod"] and unknown.failure is not None
    assert "host jira-prod: all " in unknown.failure.detail
    assert "not loaded yet (CacheUpdateFrequency: 60 s by default on Zabbix 6.0, 10 s on 7.0)" in unknown.failure.detail
    older = _output(RecordingSender(known={mapping.HEARTBEAT})).send(_plan(), Deadline.NONE)
    assert older.unknown_hosts == [] and older.failure is not None
    assert "values of node items and discovery refused: the host lacks some of the template's items" in (
        older.failure.detail
    )
    assert "older than this collector: import it again" in older.failure.detail


def test_after_a_connection_failure_the_other_hosts_are_not_tried():
    _, telemetry = _telemetry_with_memory()
    hosts = {"jira-prod": "a", "other": "b"}
    plan = plan_values(telemetry, hosts, T0, build_map(load_contract()))
    sender = RecordingSender(error=TimeoutError("timed out"))
    report = _output(sender).send(plan, Deadline.NONE)
    assert report.failure is not None
    assert "host a: TimeoutError: timed out" in report.failure.detail
    assert "host b: not sent (the server failed before" in report.failure.detail


def test_a_refused_run_fails_the_lambda_invocation_like_a_refused_export():
    from exalate_collector.errors import ExportFailed
    from exalate_collector.lambda_entry import raise_if_incomplete
    from exalate_collector.runner import RunResult
    from exalate_collector.zabbix.sender import ZabbixReport

    result = RunResult(
        "run-1", T0, [], 0.1, outputs=[_report(ZabbixReport(failure=ZabbixSendFailed("Zabbix z:10051: down")))]
    )
    with pytest.raises(ExportFailed, match="zabbix_send_failed: Zabbix z:10051: down"):
        raise_if_incomplete(result)
    raise_if_incomplete(RunResult("run-2", T0, [], 0.1, outputs=[_report(ZabbixReport(pending={"h": 3}))]))


def _report(report):
    """What the Zabbix output says of a run whose server answered ``report``."""
    from exalate_collector.zabbix import ZabbixTrapper

    class Answered:
        where = "z:10051"

        def send(self, plan, deadline):
            return report

    from exalate_collector.config import parse_config
    from exalate_collector.outputs import SendContext
    from exalate_collector.telemetry.points import RunTelemetry

    config = parse_config(
        {
            "nodes": [
                {
                    "name": "h",
                    "base_url": "https://j.example.com",
                    "relations": ["A"],
                    "auth": {"type": "token", "token": "${T}"},
                }
            ]
        }
    )
    return ZabbixTrapper(Answered()).send(SendContext(config, RunTelemetry((), ()), "run", T0, Deadline(0.0), None))


def test_the_sender_gets_the_configured_server_port_timeout_and_batches():
    made: dict[str, object] = {}

    def factory(**kwargs: object) -> RecordingSender:
        made.update(kwargs)
        return RecordingSender()

    ZabbixOutput(ZabbixConfig("zbx", 10052, 3.5), sender_factory=factory)
    assert (made["server"], made["port"], made["timeout"], made["chunk_size"]) == ("zbx", 10052, 3.5, 250)
    assert callable(made["socket_wrapper"])  # the wall-clock deadline of every connection (no TLS here)


class TricklingZabbix:
    """A loopback server that reads a sender request and answers slowly: a byte every ``pause`` seconds
    (each within any per-operation timeout), or announces a huge answer and streams zeros."""

    def __init__(self, mode: str, pause: float = 0.2) -> None:
        self.mode, self.pause = mode, pause
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.answers_started = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            try:
                header = connection.recv(13)
                length = struct.unpack("<I", header[5:9])[0]
                got = 0
                while got < length:
                    got += len(connection.recv(length - got))
                self.answers_started += 1
                if self.mode == "huge":
                    connection.sendall(b"ZBXD\x01" + struct.pack("<II", 2**31, 0))
                    while True:
                        connection.sendall(bytes(65536))
                body = b'{"response":"success","info":"processed: 1; failed: 0; total: 1; seconds spent: 0.0"}'
                for byte in b"ZBXD\x01" + struct.pack("<II", len(body), 0) + body:
                    connection.sendall(bytes([byte]))
                    time.sleep(self.pause)
            except OSError:
                return  # the collector gave up and closed the connection

    def close(self) -> None:
        self.server.close()


@pytest.mark.parametrize("mode", ["trickle", "huge"])
def test_a_zabbix_server_that_answers_a_byte_at_a_time_or_without_end_is_bounded_by_the_run(mode):
    server = TricklingZabbix(mode)
    try:
        # Each byte comes well within the 5 s timeout, but the ~100-byte answer takes ~20 s: a per-operation
        # timeout never fires. The run's Zabbix phase (1 s) ends the connection.
        output = ZabbixOutput(ZabbixConfig("127.0.0.1", server.port, timeout_s=5.0))
        report = output.send(_plan(), Deadline.after(1.0))
    finally:
        server.close()
    assert server.answers_started == 1  # the request was read: the server is reachable, its answer is the problem
    assert isinstance(report.failure, ZabbixSendFailed)
    expected = "TimeoutError" if mode == "trickle" else "larger than 1048576 bytes"
    assert expected in report.failure.detail


def test_zabbix_configuration():
    node = {"name": "jira-prod", "base_url": "https://j.example.com", "relations": ["A"], "auth": {"secret": "s"}}
    config = parse_config(
        {
            "zabbix": {"server": "zbx.example.com"},
            "nodes": [node, {**node, "name": "jira-b", "zabbix_host": "Exalate B"}],
        }
    )
    assert config.zabbix == ZabbixConfig("zbx.example.com", 10051, 10.0, None)
    assert [n.zabbix_host_name for n in config.nodes] == ["jira-prod", "Exalate B"]
    assert parse_config({"nodes": [node]}).zabbix is None
    with pytest.raises(ConfigError) as bad:
        parse_config(
            {
                "zabbix": {"server": "", "port": 70000, "timeout_s": 0, "tls": {"ca_file": "x"}, "extra": 1},
                "nodes": [{**node, "name": "jira/prod"}],
            }
        )
    text = str(bad.value)
    for expected in (
        "zabbix.server",
        "zabbix.port",
        "zabbix.timeout_s",
        "zabbix.extra: unknown key",
        "missing cert_file, key_file",
        "nodes[0] (jira/prod): zabbix_host",
    ):
        assert expected in text
    with pytest.raises(ConfigError, match="PSK needs both"):
        parse_config({"zabbix": {"server": "z", "tls": {"psk_identity": "i"}}, "nodes": [node]})


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="this Python has PSK callbacks")
def test_psk_says_where_it_works():
    with pytest.raises(ConfigError, match=r"PSK needs Python 3\.13\+"):
        tls_wrapper(ZabbixTls(psk_identity="exalate", psk="${PSK}"), "zbx", lambda ref: "00" * 32)


@pytest.mark.skipif(not hasattr(ssl.SSLContext, "set_psk_client_callback"), reason="PSK callbacks need Python 3.13+")
def test_psk_context_on_python_3_13():
    wrap = tls_wrapper(ZabbixTls(psk_identity="exalate", psk="${PSK}"), "zbx", lambda ref: "ab" * 32)
    assert callable(wrap)
    with pytest.raises(ConfigError, match="hexadecimal"):
        tls_wrapper(ZabbixTls(psk_identity="exalate", psk="${PSK}"), "zbx", lambda ref: "not hex")


def test_run_timestamp_is_the_values_clock():
    stamp = datetime(2026, 11, 28, 6, 0, 0, 250000, tzinfo=UTC)
    _, telemetry = _telemetry_with_memory()
    plan = plan_values(telemetry, {"jira-prod": "h"}, stamp, build_map(load_contract()))
    assert {(v.clock, v.ns) for v in plan.hosts["h"].second} == {(int(stamp.timestamp()), 250_000_000)}


def test_the_import_rules_in_docs_zabbix_are_the_library_s_for_6_0_and_7_0():
    """docs/zabbix.md's hand-written rules (6.0's line, 7.0's line, the rest) are what import_rules gives."""
    import json
    import re

    from exalate_collector.zabbix.template import import_rules

    text = (ROOT / "docs" / "zabbix.md").read_text(encoding="utf-8")
    block = text.split("```jsonc\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if not line.startswith("//")]

    def rules(chunk: str) -> dict:
        return {name: json.loads(value) for name, value in re.findall(r'"(\w+)": (\{[^{}]*\})', chunk)}

    rest = rules("\n".join(lines[2:]))
    assert rules(lines[0]) | rest == import_rules("6.0.14")
    assert rules(lines[1]) | rest == import_rules("7.0.9")
    assert import_rules("6.2") == import_rules("7.0") != import_rules("6.0")
