"""Text from a hostile node costs time in proportion to its size.

Reasons, messages, issue keys and connection names of a megabyte each are read, redacted, cut and
reported: redaction scans them once, never once per character (a regular expression that retries from
every position would hold the run for hours on these answers, past any deadline, and nothing would be
exported). The CLI runs in a process of its own so that such a regression fails at the bound below
instead of hanging the suite; the bound is hundreds of times what the run needs, not a measurement.
"""

from __future__ import annotations

import json

from exalate_collector.answer_parsers import MAX_MESSAGE_CHARS, MAX_VALUE_CHARS
from exalate_collector.endpoints import CONNECTIONS, SYNC_ERRORS
from exalate_collector.simulator import Behaviour, NodeSimulator

from .conftest import SECRET, node_config
from .test_cli import cli

#: About a megabyte of each: the runs of characters the credential, e-mail and URL patterns start on.
SIZE = 1 << 20
HOSTILE = {
    "dotted": "a." * (SIZE // 2),  # a URL scheme could start at every letter
    "tokenish": "eyJ" * (SIZE // 3),  # a JWT could start at every eyJ
    "word": "L" * SIZE,  # an e-mail address could start at every letter
    "digits": "+1" * (SIZE // 2),
}
BOUND_S = 300


def test_megabytes_of_hostile_text_are_redacted_cut_and_reported(tmp_path, receiver):
    item = {
        "syncEventId": 1,
        "errorReason": HOSTILE["dotted"],
        "message": " ".join(HOSTILE.values()),
        "sourceIssueKey": {"urn": HOSTILE["tokenish"], "id": HOSTILE["word"]},
    }
    with NodeSimulator(["AllContent"], secret=SECRET) as sim:
        sim.set("AllContent", SYNC_ERRORS, Behaviour(body=json.dumps([item]).encode()))
        sim.set(
            "", CONNECTIONS, Behaviour(body=json.dumps([{"name": "AllContent", "status": HOSTILE["word"]}]).encode())
        )
        node = node_config(sim, ["AllContent"], collect=["relations", "connections"], timeout_s=60)
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"nodes": [node]}))
        done = cli(
            "run",
            "--config",
            str(config),
            "--no-archive",
            "--no-state",
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint},
            timeout=BOUND_S,
        )
    assert done.returncode == 0, done.stderr

    (event,) = [e for e in receiver.events() if e.event_name == "exalate.sync.error"]
    reason = event.attributes["exalate.error.reason"]
    assert reason == HOSTILE["dotted"][:MAX_VALUE_CHARS]
    assert len(event.attributes["exalate.issue.key"]) <= MAX_VALUE_CHARS
    assert len(event.attributes["exalate.issue.id"]) <= MAX_VALUE_CHARS
    assert 0 < len(event.body) <= MAX_MESSAGE_CHARS
    (status,) = [p for p in receiver.points() if p.name == "exalate.connection.status"]
    assert len(status.attributes["exalate.connection.status"]) <= MAX_VALUE_CHARS
