"""A real time-series database: VictoriaMetrics (Debian 13's package) fed by three cron-style collector runs.

Three `exalate-collector run` processes against the simulator, a change between runs, metrics exported
over OTLP into VictoriaMetrics with Prometheus naming. Then every query of the Grafana dashboard and every
alert expression is evaluated there and must return the expected series and values. The same for nodes
polled only through the 4.0 API (`collect: [queues, errors]`, `[connections]`, a refused login), in a
VictoriaMetrics of their own.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from exalate_collector.endpoints import BLOB_ERRORS, ENDPOINTS, SYNC_ERRORS, SYNC_REQUESTS, node_rows, row
from exalate_collector.simulator import Behaviour, NodeSimulator, seed_body

from ..conftest import ROOT, repaired_blob_errors
from .conftest import SECRET, free_port, node_config
from .test_cli import cli
from .tools import tool

DASHBOARD = ROOT / "integrations" / "grafana" / "exalate-collector.json"
RULES = ROOT / "integrations" / "prometheus" / "exalate-alerts.yaml"
INSTANCE = "exalate-vm-test"
GROOVY_TWO_ERRORS = json.dumps(
    [{"syncEventId": 61, "errorReason": "NO_ISSUE_TO_CONNECT_TO"}, {"syncEventId": 62, "errorReason": "SCRIPT_ERROR"}]
).encode()
GROOVY_ONE_ERROR = json.dumps([{"syncEventId": 62, "errorReason": "SCRIPT_ERROR"}]).encode()
GROWN_QUEUE = json.dumps([{"syncEventId": 4}, {"syncEventId": 5}, {"syncEventId": 6}]).encode()
#: How long ago (seconds) the state says AllContent's first queued item was first seen, before run 3.
AGED_S = 7200


class VictoriaMetrics:
    def __init__(self, url: str) -> None:
        self.url = url

    def raw(self, path: str, **params: str) -> bytes:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as answer:
            return answer.read()

    def get(self, path: str, **params: str) -> Any:
        return json.loads(self.raw(path, **params))

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
        body = self.get("/api/v1/query", **params)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def flush(self) -> None:
        self.raw("/internal/force_flush")

    def wait_for(self, expr: str, value: float) -> None:
        """Until what was ingested is searchable (a readiness wait, not a timing assertion)."""
        for _ in range(600):
            result = self.query(expr)
            if result and float(result[0]["value"][1]) == value:
                return
            time.sleep(0.1)
        pytest.fail(f"VictoriaMetrics never answered {value} to {expr}: {self.query(expr)}")


@contextmanager
def running_victoria_metrics() -> Iterator[VictoriaMetrics]:
    binary = tool("victoria-metrics")
    data = Path(tempfile.mkdtemp(prefix="exalate-vm-"))
    port = free_port()
    process = subprocess.Popen(
        [
            str(binary),
            f"-storageDataPath={data}",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-opentelemetry.usePrometheusNaming",  # exalate_queue_size, exalate_poll_errors_total, ...
            "-search.latencyOffset=0",  # points are queryable as soon as they are flushed
            "-search.disableCache",
            "-loggerLevel=ERROR",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    vm = VictoriaMetrics(f"http://127.0.0.1:{port}")
    try:
        for _ in range(300):  # until it answers (not a timing assertion: it fails only if it never starts)
            try:
                vm.raw("/health")
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"victoria-metrics exited: {process.stderr.read().decode() if process.stderr else ''}")
                time.sleep(0.1)
        else:
            pytest.fail("victoria-metrics never answered /health")
        yield vm
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def victoria_metrics() -> Iterator[VictoriaMetrics]:
    with running_victoria_metrics() as vm:
        yield vm


@dataclass
class Story:
    """What the three runs did, for the expectations."""

    ends: list[float] = field(default_factory=list)  # wall clock after each run
    start: float = 0.0


def answers(relation: str, simulator: NodeSimulator) -> dict[str, list[dict[str, Any]] | None]:
    """What the simulator holds now per endpoint of a relation (None: not valid JSON)."""
    found = {}
    for endpoint in ENDPOINTS:
        behaviour = simulator.behaviour(relation, endpoint)
        body = behaviour.body if behaviour is not None and behaviour.body is not None else seed_body(endpoint)
        try:
            found[endpoint] = json.loads(body)
        except ValueError:
            found[endpoint] = None
    return found


@pytest.fixture(scope="module")
def three_runs(victoria_metrics, tmp_path_factory) -> Iterator[tuple[VictoriaMetrics, Story, NodeSimulator]]:
    work = tmp_path_factory.mktemp("vm-runs")
    with NodeSimulator(["AllContent", "GROOVY"], secret=SECRET) as simulator:
        simulator.set("GROOVY", SYNC_ERRORS, Behaviour(body=GROOVY_TWO_ERRORS))
        simulator.set("GROOVY", BLOB_ERRORS, Behaviour(body=repaired_blob_errors()))
        good = node_config(simulator, ["AllContent", "GROOVY", "Gone"], name="jira-a", stuck_after_s=1)
        good["auth"] = {"type": "jwt", "secret": "${EXALATE_JWT_SECRET}"}
        bad = node_config(simulator, ["AllContent"], name="jira-b")
        bad["auth"] = {"type": "jwt", "secret": "a-wrong-secret-of-at-least-32-bytes-long"}
        config = work / "exalate.yaml"
        config.write_text(json.dumps({"nodes": [good, bad]}))
        env = {
            "EXALATE_JWT_SECRET": SECRET,
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{victoria_metrics.url}/opentelemetry/v1/metrics",
            "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id={INSTANCE}",
        }
        story = Story(start=time.time())
        for run in (1, 2, 3):
            if run == 2:  # between runs 1 and 2: a sync error is fixed, a queue grows
                simulator.set("GROOVY", SYNC_ERRORS, Behaviour(body=GROOVY_ONE_ERROR))
                simulator.set("AllContent", SYNC_REQUESTS, Behaviour(body=GROWN_QUEUE))
            if run == 3:  # between runs 2 and 3: two hours pass for AllContent's first item
                age_first_item(work / "state" / "jira-a.json", AGED_S)
            time.sleep(1.1)  # items seen one run earlier are older than stuck_after_s (1 s)
            done = cli("run", "--config", str(config), "--no-archive", "--state-dir", str(work / "state"), env=env)
            assert done.returncode == 0, done.stderr
            story.ends.append(time.time())
        victoria_metrics.flush()
        victoria_metrics.wait_for("sum(count_over_time(exalate_collector_run_duration_seconds[1h]))", 3)
        yield victoria_metrics, story, simulator


def age_first_item(path: Path, seconds: float) -> None:
    """The passage of time, as the state records it: AllContent's item 4 was first seen ``seconds`` earlier."""
    state = json.loads(path.read_text())
    item = state["relations"]["AllContent"][SYNC_REQUESTS]["4"]
    item["t"] -= seconds
    path.write_text(json.dumps(state))


def dashboard_queries() -> dict[str, str]:
    """Panel title -> its query, with the dashboard's variables as Grafana substitutes them for 'All'."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    found = {}
    for panel in panels:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$node", ".*").replace("$relation", ".*")
            found[panel["title"]] = expr.replace("$__rate_interval", "15m")
    return found


def alert_expressions() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def by(result: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1]) for r in result}


ENDPOINT = ("exalate_node", "exalate_relation", "exalate_endpoint")
REASON = ("exalate_node", "exalate_relation", "exalate_error_reason")


def expected_queue_sizes(simulator: NodeSimulator) -> dict[tuple[str, ...], float]:
    """What the simulator holds, per understood endpoint of the node that can read it."""
    return {
        ("jira-a", relation, endpoint): float(len(items))
        for relation in ("AllContent", "GROOVY")
        for endpoint, items in answers(relation, simulator).items()
        if items is not None
    }


def test_every_dashboard_query_returns_the_expected_series(three_runs):
    vm, story, simulator = three_runs
    queries = dashboard_queries()
    assert len(queries) == 12

    sizes = by(vm.query(queries["Queue size"]), *ENDPOINT)
    assert sizes == expected_queue_sizes(simulator)
    assert sizes[("jira-a", "AllContent", SYNC_REQUESTS)] == 3  # the sum equals what the node holds

    ages = by(vm.query(queries["Oldest item age"]), *ENDPOINT)
    assert set(ages) == set(sizes)
    aged = ages.pop(("jira-a", "AllContent", SYNC_REQUESTS))
    assert AGED_S < aged < AGED_S + (story.ends[-1] - story.start)
    assert all(0 < age <= story.ends[-1] - story.start for age in ages.values() if age)

    stuck = by(vm.query(queries["Stuck items"]), *ENDPOINT)
    assert set(stuck) == set(sizes)
    assert stuck[("jira-a", "AllContent", SYNC_REQUESTS)] == 3  # items 5 and 6 since run 2, 4 since run 1
    assert stuck[("jira-a", "GROOVY", SYNC_ERRORS)] == 1  # SCRIPT_ERROR, present since run 1

    assert by(vm.query(queries["Sync errors by reason"]), *REASON) == {
        ("jira-a", "AllContent", "NO_ISSUE_TO_CONNECT_TO"): 1,
        ("jira-a", "GROOVY", "SCRIPT_ERROR"): 1,
        ("jira-a", "GROOVY", "NO_ISSUE_TO_CONNECT_TO"): 0,  # fixed before run 2: its final 0, not a stale 1
    }
    blob_reasons = {item["blobErrorReason"] for item in json.loads(repaired_blob_errors())}
    assert by(vm.query(queries["Attachment errors by reason"]), *REASON) == {
        ("jira-a", "GROOVY", reason): 1 for reason in blob_reasons
    }

    # increase() of the continued counters equals the failures of the three runs
    assert by(vm.query(queries["Failed polls by error.type"]), "exalate_node", "exalate_relation", "error_type") == {
        ("jira-a", "Gone", "connection_not_found"): 3 * len(ENDPOINTS),
        ("jira-a", "AllContent", "invalid_json"): 3,  # the seed's broken bloberrorresponses
        ("jira-b", "AllContent", "unauthorized"): 3 * len(ENDPOINTS),
    }

    health = by(vm.query(queries["Endpoint health"]), *ENDPOINT)
    expected_health = {("jira-a", r, e): 1.0 for r in ("AllContent", "GROOVY") for e in ENDPOINTS}
    expected_health[("jira-a", "AllContent", BLOB_ERRORS)] = 0
    expected_health |= {("jira-a", "Gone", e): 0 for e in ENDPOINTS}
    expected_health |= {("jira-b", "AllContent", e): 0 for e in ENDPOINTS}
    assert health == expected_health

    p95 = by(vm.query(queries["Poll duration (p95)"]), "exalate_node", "exalate_relation")
    assert set(p95) == {("jira-a", "AllContent"), ("jira-a", "GROOVY"), ("jira-a", "Gone"), ("jira-b", "AllContent")}
    assert all(0 < seconds < 30 for seconds in p95.values())  # a rate of the continued histogram

    ((run_duration,),) = [r["value"][1:] for r in vm.query(queries["Run duration"])]
    assert 0 < float(run_duration) < 60


def test_the_dashboard_variables_list_nodes_and_relations(three_runs):
    vm, _, _ = three_runs
    variables = {v["name"]: v for v in json.loads(DASHBOARD.read_text())["templating"]["list"]}
    node = re.fullmatch(r"label_values\((.*), (\w+)\)", variables["node"]["query"])
    relation = re.fullmatch(r"label_values\((.*), (\w+)\)", variables["relation"]["query"])
    assert node and relation
    nodes = vm.get(f"/api/v1/label/{node[2]}/values", **{"match[]": node[1]})["data"]
    assert nodes == ["jira-a", "jira-b"]
    of_a = relation[1].replace("$node", "jira-a")
    assert vm.get(f"/api/v1/label/{relation[2]}/values", **{"match[]": of_a})["data"] == [
        "AllContent",
        "GROOVY",
        "Gone",
    ]
    # and a chosen relation narrows the panels
    groovy = dashboard_queries()["Queue size"].replace('exalate_relation=~".*"', 'exalate_relation=~"GROOVY"')
    assert {key[1] for key in by(vm.query(groovy), *ENDPOINT)} == {"GROOVY"}


def test_every_alert_expression_returns_the_expected_series(three_runs):
    vm, story, _ = three_runs
    alerts = alert_expressions()
    assert by(vm.query(alerts["ExalateRelationRemoved"]), "exalate_node", "exalate_relation") == {("jira-a", "Gone"): 0}
    assert by(vm.query(alerts["ExalateAuthenticationFailing"]), "exalate_node", "exalate_relation", "error_type") == {
        ("jira-b", "AllContent", "unauthorized"): 3 * len(ENDPOINTS)
    }
    down = {("jira-a", "AllContent", BLOB_ERRORS): 0} | {("jira-b", "AllContent", e): 0 for e in ENDPOINTS}
    assert by(vm.query(alerts["ExalateEndpointDown"]), *ENDPOINT) == down  # not the removed relation's
    assert by(vm.query(alerts["ExalateSyncErrors"]), *REASON) == {
        ("jira-a", "AllContent", "NO_ISSUE_TO_CONNECT_TO"): 1,
        ("jira-a", "GROOVY", "SCRIPT_ERROR"): 1,
    }
    assert {key[1] for key in by(vm.query(alerts["ExalateBlobErrors"]), *REASON)} == {"GROOVY"}
    stuck = by(vm.query(alerts["ExalateQueueStuck"]), *ENDPOINT)
    assert stuck[("jira-a", "AllContent", SYNC_REQUESTS)] == 3 and all(v > 0 for v in stuck.values())
    oldest = by(vm.query(alerts["ExalateQueueOldestItem"]), *ENDPOINT)
    assert list(oldest) == [("jira-a", "AllContent", SYNC_REQUESTS)]
    assert oldest[("jira-a", "AllContent", SYNC_REQUESTS)] > AGED_S
    assert vm.query(alerts["ExalateCollectorSilent"]) == []  # it ran
    before = vm.query(alerts["ExalateCollectorSilent"], at=story.start - 60)
    assert [float(r["value"][1]) for r in before] == [1]  # before the first run it was silent


def test_a_fixed_error_stops_counting_at_the_next_run(three_runs):
    vm, story, _ = three_runs
    groovy = 'sum(exalate_sync_errors{exalate_relation="GROOVY"})'
    assert [float(vm.query(groovy, at=end)[0]["value"][1]) for end in story.ends] == [2, 1, 1]


def test_one_set_of_series_for_all_three_processes(three_runs):
    vm, story, simulator = three_runs
    ids = by(vm.query("count by (service_instance_id) (exalate_endpoint_up_ratio)"), "service_instance_id")
    assert ids == {(INSTANCE,): 2 * len(ENDPOINTS) + len(ENDPOINTS) + len(ENDPOINTS)}  # OTEL_RESOURCE_ATTRIBUTES
    # no new series per process: the queue sizes sum to what the node holds, not three times it
    total = float(vm.query('sum(exalate_queue_size{exalate_node="jira-a"})')[0]["value"][1])
    assert total == sum(expected_queue_sizes(simulator).values())
    # each poll.errors series has one sample per run, continuing: 1, 2, 3
    samples = vm.get(
        "/api/v1/query",
        query='exalate_poll_errors_total{exalate_relation="Gone", exalate_endpoint="syncevents/syncrequests"}[1h]',
        time=f"{story.ends[-1]:.3f}",
    )["data"]["result"]
    assert [[float(v) for _, v in r["values"]] for r in samples] == [[1, 2, 3]]


def test_delta_temporality_is_dropped_silently(tmp_path):
    """Why the README says "cumulative only" for VictoriaMetrics: it answers 200 to delta sums and histograms
    and stores none of them (only gauges arrive), so the collector cannot notice."""
    with running_victoria_metrics() as vm, NodeSimulator(["AllContent"], secret=SECRET) as simulator:
        config = tmp_path / "exalate.yaml"
        node = node_config(simulator, ["AllContent", "Gone"], auth={"secret": "${EXALATE_JWT_SECRET}"})
        config.write_text(json.dumps({"nodes": [node]}))
        env = {
            "EXALATE_JWT_SECRET": SECRET,
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{vm.url}/opentelemetry/v1/metrics",
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
        }
        done = cli("run", "--config", str(config), "--no-archive", "--no-state", env=env)
        assert done.returncode == 0, done.stderr  # the backend said yes
        vm.flush()
        vm.wait_for("count(exalate_endpoint_up_ratio)", 2 * len(ENDPOINTS))  # the gauges arrived
        assert vm.query("exalate_poll_errors_total") == []  # 6 failures of Gone: dropped
        assert vm.query("exalate_poll_duration_seconds_count") == []


USER, PASSWORD = "monitor", "a-password-of-the-monitoring-user"
NODE_ONLY = ["queues", "errors"]  # the 4.0-only node of the issue: no relation, nothing of the 2.4 API


@pytest.fixture(scope="module")
def node_api_runs(tmp_path_factory) -> Iterator[tuple[VictoriaMetrics, NodeSimulator]]:
    """Two runs of three nodes polled through the 4.0 API only, into a VictoriaMetrics of their own: jira-40
    (collect: [queues, errors]), jira-40c (collect: [connections]; GROOVY is DEACTIVATED on the node) and
    jira-login (collect: [queues, errors], a wrong password: login_failed)."""
    work = tmp_path_factory.mktemp("vm-4-0")
    with (
        running_victoria_metrics() as vm,
        NodeSimulator(["AllContent", "GROOVY"], secret=SECRET, login=(USER, PASSWORD)) as simulator,
    ):
        simulator.set("GROOVY", SYNC_ERRORS, Behaviour(body=GROOVY_TWO_ERRORS))
        simulator.set_status("GROOVY", "DEACTIVATED")
        jwt = {"type": "jwt", "secret": "${EXALATE_JWT_SECRET}"}
        wrong = {"type": "login", "username": USER, "password": "not-the-password"}
        nodes = [
            {"name": "jira-40", "base_url": simulator.base_url, "collect": NODE_ONLY, "auth": jwt},
            {"name": "jira-40c", "base_url": simulator.base_url, "collect": ["connections"], "auth": jwt},
            {"name": "jira-login", "base_url": simulator.base_url, "collect": NODE_ONLY, "auth": wrong},
        ]
        config = work / "exalate.yaml"
        config.write_text(json.dumps({"nodes": [{**node, "timeout_s": 5} for node in nodes]}))
        env = {
            "EXALATE_JWT_SECRET": SECRET,
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{vm.url}/opentelemetry/v1/metrics",
            "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id={INSTANCE}-4-0",
        }
        for _ in (1, 2):
            done = cli("run", "--config", str(config), "--no-archive", "--state-dir", str(work / "state"), env=env)
            assert done.returncode == 0, done.stderr
        vm.flush()
        vm.wait_for("sum(count_over_time(exalate_collector_run_duration_seconds[1h]))", 2)
        yield vm, simulator


def node_answer(simulator: NodeSimulator, endpoint: str) -> dict[str, Any]:
    return json.loads(simulator.node_answer(row(endpoint)))


def test_a_node_polled_only_through_the_4_0_api_fills_the_dashboard(node_api_runs):
    vm, simulator = node_api_runs
    queries = dashboard_queries()
    outgoing, incoming = (node_answer(simulator, e)["total"] for e in ("4.0/syncevents", "4.0/syncrequests"))
    assert outgoing > 0 and incoming > 0
    assert by(vm.query(queries["Node queue by direction"]), "exalate_node", "exalate_queue_direction") == {
        ("jira-40", "outgoing"): outgoing,
        ("jira-40", "incoming"): incoming,
    }
    errors = node_answer(simulator, "4.0/cmonitor")["numErrors"]
    assert errors >= 2  # GROOVY's two sync errors at least
    assert by(vm.query(queries["Node errors"]), "exalate_node") == {("jira-40",): errors}
    status = ("exalate_node", "exalate_relation", "exalate_connection_status")
    assert by(vm.query(queries["Connection status"]), *status) == {
        ("jira-40c", "AllContent", "ACTIVE"): 1,
        ("jira-40c", "GROOVY", "DEACTIVATED"): 1,
    }
    # the refused login: every 4.0 poll of both runs, under the panel of failed polls
    polls = len(node_rows(NODE_ONLY))
    assert by(vm.query(queries["Failed polls by error.type"]), "exalate_node", "exalate_relation", "error_type") == {
        ("jira-login", "", "login_failed"): 2 * polls
    }
    health = by(vm.query(queries["Endpoint health"]), *ENDPOINT)
    assert health == {
        **{("jira-40", "", e.name): 1 for e in node_rows(NODE_ONLY)},
        **{("jira-40c", "", e.name): 1 for e in node_rows(["connections"])},
        **{("jira-login", "", e.name): 0 for e in node_rows(NODE_ONLY)},
    }
    # the node variable lists them all: the dashboard can be narrowed to a 4.0-only node
    variables = {v["name"]: v for v in json.loads(DASHBOARD.read_text())["templating"]["list"]}
    node = re.fullmatch(r"label_values\((.*), (\w+)\)", variables["node"]["query"])
    assert node
    nodes = vm.get(f"/api/v1/label/{node[2]}/values", **{"match[]": node[1]})["data"]
    assert nodes == ["jira-40", "jira-40c", "jira-login"]
    only = queries["Node queue by direction"].replace('exalate_node=~".*"', 'exalate_node=~"jira-40"')
    assert {key[0] for key in by(vm.query(only), "exalate_node")} == {"jira-40"}
    # a relation chosen in the dashboard does not hide the whole-node figures
    chosen = queries["Node errors"].replace("$relation", "GROOVY")
    assert by(vm.query(chosen), "exalate_node") == {("jira-40",): errors}


def test_the_alerts_cover_a_node_polled_only_through_the_4_0_api(node_api_runs):
    vm, simulator = node_api_runs
    alerts = alert_expressions()
    polls = len(node_rows(NODE_ONLY))
    assert by(vm.query(alerts["ExalateAuthenticationFailing"]), "exalate_node", "exalate_relation", "error_type") == {
        ("jira-login", "", "login_failed"): 2 * polls
    }
    assert by(vm.query(alerts["ExalateNodeErrors"]), "exalate_node") == {
        ("jira-40",): node_answer(simulator, "4.0/cmonitor")["numErrors"]
    }
    assert by(vm.query(alerts["ExalateNodeQueueNotDraining"]), "exalate_node", "exalate_queue_direction") == {
        ("jira-40", "outgoing"): node_answer(simulator, "4.0/syncevents")["total"],
        ("jira-40", "incoming"): node_answer(simulator, "4.0/syncrequests")["total"],
    }
    status = ("exalate_node", "exalate_relation", "exalate_connection_status")
    assert by(vm.query(alerts["ExalateConnectionNotActive"]), *status) == {("jira-40c", "GROOVY", "DEACTIVATED"): 1}
    assert vm.query(alerts["ExalateCollectorSilent"]) == []
    # none of the 2.4 alerts has anything to say about these nodes
    for name in ("ExalateRelationRemoved", "ExalateSyncErrors", "ExalateBlobErrors", "ExalateQueueStuck"):
        assert vm.query(alerts[name]) == [], name
