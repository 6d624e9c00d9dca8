"""No secret, token or replica content in telemetry or logs, even when every kind of failure happens."""

from __future__ import annotations

import json
import logging

from exalate_collector.endpoints import SYNC_RESPONSES
from exalate_collector.runner import run
from exalate_collector.simulator import Behaviour

from .conftest import SECRET, config_for, free_port, node_config

REPLICA_CONTENT = [
    "admin@example.com",
    "developer@example.com",
    "AllContentPairAndSyncWiredTest",
    "Brad Pitt",
    "Exalated: BasicAttachmentWiredTest",
    "eyJ2ZXJzaW9uIjp7",
]


def test_query_tokens_payloads_and_secrets_never_leave(simulator, receiver, pipeline, caplog):
    simulator.set(
        "AllContent",
        SYNC_RESPONSES,
        Behaviour(status=500, content_type="text/plain", body=b"failed for developer@example.com"),
    )
    simulator.set("GROOVY", SYNC_RESPONSES, Behaviour(drop=True))
    dead = node_config(
        simulator,
        ["AllContent"],
        name="dead",
        auth={"send_as": "query"},
        base_url=f"http://127.0.0.1:{free_port()}/jira",
    )
    live = node_config(simulator, ["AllContent", "GROOVY"], auth={"send_as": "query"})
    caplog.set_level(logging.DEBUG)
    result = run(config_for(live, dead), 10, pipeline)

    assert any(ex.failure and ex.failure.error_type == "connection_failed" for ex in result.exchanges)
    assert any(ex.ok for ex in result.exchanges)
    emitted = json.dumps([e.__dict__ for e in receiver.events()] + [p.__dict__ for p in receiver.points()], default=str)
    logged = "\n".join(r.getMessage() + " " + json.dumps(r.__dict__, default=str) for r in caplog.records)
    for text in (emitted, logged):
        assert SECRET not in text
        assert "jwt=" not in text and "eyJhbGci" not in text
        for content in REPLICA_CONTENT:
            assert content not in text
    assert "<email>" in emitted  # the 500 body was quoted, redacted
