"""The output interface: a new output is its package and one registration line; it receives what OTLP
receives, its failure is the run's undelivered output (exit 1 / RunFailed) and never stops the others."""

from __future__ import annotations

import json

from exalate_collector import outputs
from exalate_collector.outputs import OutputReport
from exalate_collector.runner import run

from .conftest import config_for, node_config
from .helpers import received_points
from .scratch_output import factory


def test_a_registered_output_receives_what_the_otlp_backend_receives(
    simulator, receiver, pipeline, tmp_path, monkeypatch
):
    monkeypatch.setitem(outputs.FACTORIES, "jsonl", factory(tmp_path))  # the one registration line
    result = run(config_for(node_config(simulator, ["AllContent", "GROOVY"])), 30, pipeline)
    written = [json.loads(line) for path in tmp_path.glob("*.jsonl") for line in path.read_text().splitlines()]
    assert result.output("jsonl") == OutputReport("jsonl", lines=(f"jsonl: {tmp_path / result.run_id}.jsonl",))
    jsonl_points = {(w["point"], frozenset(w["attributes"].items())) for w in written if "point" in w}
    otlp = {(name, frozenset(dict(attributes).items())) for name, attributes, *_ in received_points(receiver)}
    assert jsonl_points and jsonl_points <= otlp
    # and the rest OTLP got is its own: what OTLP adds to what every output received
    assert {name for name, _ in otlp - jsonl_points} <= {"exalate.export.requests", "exalate.export.dropped"}
    jsonl_events = sorted(w["event"] for w in written if "event" in w)
    assert jsonl_events == sorted(e.event_name for e in receiver.events())
    assert not result.undelivered()


class Broken:
    name = "broken"
    weight = 1.0

    def send(self, context):
        raise OSError("the disk is full")


def test_an_output_that_fails_is_undelivered_and_the_others_still_send(simulator, receiver, pipeline, caplog):
    result = run(config_for(node_config(simulator, ["AllContent"])), 30, pipeline, outputs=[Broken()])
    assert result.undelivered() == ["broken: failed (OSError, a bug)"]
    assert result.export is not None and result.export.ok and receiver.points()
    assert result.output("otlp") is not None and result.output("otlp").ok
    assert "output broken failed" in caplog.text
