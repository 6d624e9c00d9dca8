"""What one run did (``RunResult``): its exchanges, telemetry, outputs' reports, and the one rule of
what counts as undelivered, shared by the CLI's exit code and the Lambda's RunFailed."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from .config import NodeConfig
from .model import Discovery, Exchange
from .outputs import OutputReport
from .pipeline import ArchiveOutcome
from .state.model import StateReport
from .telemetry.otel import ExportReport
from .telemetry.points import RunTelemetry

if TYPE_CHECKING:
    from .zabbix.sender import ZabbixReport

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_id: str
    started_at: datetime
    exchanges: list[Exchange]
    duration_s: float
    telemetry: RunTelemetry = field(default_factory=lambda: RunTelemetry((), ()))
    export: ExportReport | None = None
    archive: ArchiveOutcome | None = None
    state_report: StateReport | None = None
    #: node -> its relations of this run, for the ``relations: auto`` nodes
    discoveries: dict[str, Discovery] = field(default_factory=dict)
    #: answers that did not fit the run's memory budget and were kept in temporary files
    spilled: int = 0

    #: What each output did, in the order they sent (OTLP last)
    outputs: list[OutputReport] = field(default_factory=list)
    #: The exchanges of the polling proper (not the connection lists), in job order per node
    polled: list[Exchange] = field(default_factory=list, repr=False)

    def relations_of(self, node: NodeConfig) -> tuple[str, ...]:
        """The relations polled for the node in this run: configured, or discovered."""
        found = self.discoveries.get(node.name)
        return node.relations if found is None else found.relations

    def output(self, name: str) -> OutputReport | None:
        return next((r for r in self.outputs if r.name == name), None)

    def undelivered(self) -> list[str]:
        """One line per output (the archive included) that did not take all of the run: the one rule of the
        CLI's exit 1 and the Lambda's RunFailed."""
        problems = []
        if self.archive is not None and self.archive.failures:
            nodes = ", ".join(f"{node} ({failure.error_type})" for node, failure in self.archive.failures)
            problems.append(f"some answers could not be archived (see the log): {nodes} could not be archived")
        problems.extend(r.problem for r in self.outputs if r.problem is not None)
        return problems

    @property
    def zabbix(self) -> ZabbixReport | None:
        """The Zabbix output's own report (kept for callers of 0.1; ``output("zabbix")`` is the interface)."""
        report = self.output("zabbix")
        return None if report is None else report.detail

    @property
    def failures(self) -> int:
        return sum(1 for ex in self.exchanges if ex.failure is not None)

    @property
    def nothing_polled(self) -> bool:
        """No poll of the run gave a usable answer (every node down, refused, or every relation gone)."""
        return not any(ex.ok for ex in self.exchanges)

    @property
    def export_failed(self) -> bool:
        return self.export is not None and not self.export.ok

    @property
    def zabbix_failed(self) -> bool:
        report = self.output("zabbix")
        return report is not None and not report.ok

    @property
    def archive_failed(self) -> bool:
        return self.archive is not None and bool(self.archive.failures)


def new_run_id(now: datetime) -> str:
    """Sortable and unique: ``20261127T184500Z-1a2b3c4d``."""
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
