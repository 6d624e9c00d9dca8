"""A warm Lambda keeps one process across runs: each run reports what it saw, and what is gone ends with one 0."""

from __future__ import annotations

import json

import pytest
from exalate_collector.endpoints import ENDPOINTS, SYNC_ERRORS
from exalate_collector.runner import run
from exalate_collector.simulator import Behaviour
from exalate_collector.telemetry.otel import OtelPipeline
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics import _Gauge as Gauge
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

from .conftest import config_for, node_config
from .helpers import values


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_gone_relations_endpoints_and_reasons_end_with_one_zero(simulator, receiver, monkeypatch, temporality):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", temporality)
    pipeline = OtelPipeline.from_environment("warm-test")
    try:
        simulator.set(
            "GROOVY",
            SYNC_ERRORS,
            Behaviour(
                body=json.dumps([{"errorReason": "NO_ISSUE_TO_CONNECT_TO"}, {"errorReason": "SCRIPT_ERROR"}]).encode()
            ),
        )
        run(config_for(node_config(simulator, ["AllContent", "GROOVY"])), 10, pipeline)
        assert values(receiver, "exalate.sync.errors", {"exalate.relation": "GROOVY"}) == [1, 1]
        assert len(values(receiver, "exalate.queue.size", {"exalate.relation": "AllContent"})) == len(ENDPOINTS) - 1

        # Second run, same process: GROOVY's errors are resolved except one; AllContent left the config.
        receiver.clear()
        simulator.set("GROOVY", SYNC_ERRORS, Behaviour(body=b'[{"errorReason": "SCRIPT_ERROR"}]'))
        groovy_only = config_for(node_config(simulator, ["GROOVY"]))
        run(groovy_only, 10, pipeline)

        reasons = {
            p.attributes["exalate.error.reason"]: p.value for p in receiver.points() if p.name == "exalate.sync.errors"
        }
        assert reasons == {"SCRIPT_ERROR": 1, "NO_ISSUE_TO_CONNECT_TO": 0}  # the gone reason: one final 0
        assert values(receiver, "exalate.queue.size", {"exalate.relation": "AllContent"}) == [0] * (len(ENDPOINTS) - 1)
        # up gauges get no final value (0 would say "down" / "removed"), they are just no longer exported
        for up in ("exalate.endpoint.up", "exalate.relation.up"):
            assert values(receiver, up, {"exalate.relation": "AllContent"}) == []
        assert len(values(receiver, "exalate.collector.run.duration")) == 1
        # The counter keeps its meaning across runs: cumulative adds up, delta reports this run only.
        invalid = values(receiver, "exalate.poll.errors", {"exalate.relation": "GROOVY", "error.type": "invalid_json"})
        assert invalid == ([2] if temporality == "cumulative" else [1])

        # Third run: the final zeros were sent once; nothing of AllContent or the gone reason any more.
        receiver.clear()
        run(groovy_only, 10, pipeline)
        gauges = {"exalate.queue.size", "exalate.endpoint.up", "exalate.relation.up", "exalate.sync.errors"}
        stale = [p for p in receiver.points() if p.name in gauges and p.attributes["exalate.relation"] != "GROOVY"]
        assert stale == []
        assert values(receiver, "exalate.sync.errors", {"exalate.relation": "GROOVY"}) == [1]
    finally:
        pipeline.shutdown()


def test_why_gauges_are_observable_the_sdk_repeats_synchronous_gauges():
    """Canary: if the SDK stops repeating stale synchronous gauge values, this design can be simplified."""
    reader = InMemoryMetricReader(preferred_temporality={Gauge: AggregationTemporality.CUMULATIVE})
    provider = MeterProvider(metric_readers=[reader])
    gauge = provider.get_meter("canary").create_gauge("g")
    gauge.set(5, {"relation": "gone"})
    reader.get_metrics_data()
    gauge.set(1, {"relation": "present"})
    data = reader.get_metrics_data()
    points = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    assert {p.attributes["relation"] for p in points} == {"gone", "present"}
    provider.shutdown()
