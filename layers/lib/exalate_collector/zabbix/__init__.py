"""The Zabbix output: trapper values (zabbix_utils Sender) and a template derived from the telemetry contract."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from ..outputs import OutputReport, SendContext

if TYPE_CHECKING:
    from ..config import Config, ZabbixConfig
    from ..deadline import Deadline
    from ..telemetry.points import RunTelemetry
    from .sender import ZabbixOutput, ZabbixReport


def publish(
    output: ZabbixOutput,
    config: Config,
    telemetry: RunTelemetry,
    started_at: datetime,
    run_id: str,
    deadline: Deadline,
) -> ZabbixReport:
    """Send one run's readings by ``deadline``; log and return what the server answered."""
    from ..telemetry.contract import load_contract
    from .mapping import build_map, plan_values
    from .sender import log_report

    hosts = {node.name: node.zabbix_host_name for node in config.nodes}
    plan = plan_values(telemetry, hosts, started_at, build_map(load_contract()))
    report = output.send(plan, deadline)
    log_report(report, output.where, run_id)
    return report


class ZabbixTrapper:
    """The ``zabbix:`` section as an ``outputs.Output``: before the OTLP export, which carries its answer."""

    name = "zabbix"
    weight = 3.0

    def __init__(self, sender: ZabbixOutput) -> None:
        self.sender = sender

    @classmethod
    def from_config(cls, config: ZabbixConfig) -> ZabbixTrapper:
        from .sender import ZabbixOutput

        return cls(ZabbixOutput(config))

    def send(self, context: SendContext) -> OutputReport:
        from ..telemetry.points import stamped
        from .sender import report_telemetry

        report = publish(
            self.sender, context.config, context.telemetry, context.started_at, context.run_id, context.deadline
        )
        points, events = report_telemetry(report)
        return OutputReport(
            self.name,
            problem=f"zabbix_send_failed: {report.failure.detail}" if report.failure is not None else None,
            events_delivered=report.ok,  # new errors go in its log item too
            points=tuple(points),
            events=stamped(events, time.time()),
            lines=summary_lines(report),
            detail=report,
        )


def summary_lines(report: ZabbixReport) -> tuple[str, ...]:
    """What the CLI prints after a run that sent to Zabbix."""
    from .sender import CACHE_UPDATE

    lines = [f"zabbix: processed {report.processed}, failed {report.failed}, total {report.total}"]
    for host in report.unknown_hosts:
        lines.append(
            f"zabbix: host {host} took none of its values: the server does not know it, or not yet. A host created"
            " (or its template linked) since the server last loaded its configuration is taken after the next"
            f" load ({CACHE_UPDATE}; at once: zabbix_server -R config_cache_reload): run again then."
            " Still refused: check the host's name, that it is enabled and monitored by this server, not a proxy,"
            " and that the template is linked (see docs/zabbix.md)"
        )
    pending = sum(report.pending.values())
    if pending:
        lines.append(
            f"zabbix: {pending} values of newly discovered items were refused: Zabbix creates those items from this"
            " run's discovery data and takes their values after its next configuration cache update, i.e. from"
            " the next run on (see docs/zabbix.md)"
        )
    return tuple(lines)
