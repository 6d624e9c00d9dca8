"""A scratch output, as a newcomer would add one: JSON lines of a run's points and events, one file per run.

It is the whole of an output: a class with ``name``, ``weight`` and ``send``, and a factory from the
configuration. tests/integration/test_outputs.py registers it with one line and proves it receives
what the OTLP backend receives.
"""

from __future__ import annotations

import json
from pathlib import Path

from exalate_collector.config import Config
from exalate_collector.outputs import OutputReport, SendContext


class JsonLinesOutput:
    name = "jsonl"
    weight = 1.0

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, context: SendContext) -> OutputReport:
        path = self.folder / f"{context.run_id}.jsonl"
        with path.open("w") as out:
            for p in context.telemetry.points:
                out.write(json.dumps({"point": p.name, "attributes": p.attributes, "value": p.value}) + "\n")
            for e in context.telemetry.events:
                out.write(json.dumps({"event": e.name, "attributes": e.attributes, "body": e.body}) + "\n")
        return OutputReport(self.name, lines=(f"jsonl: {path}",))


def factory(folder: Path):
    """The factory ``outputs.FACTORIES`` takes: the configuration in, the output (or None) out."""

    def build(config: Config) -> JsonLinesOutput:
        return JsonLinesOutput(folder)

    return build
