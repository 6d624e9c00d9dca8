"""The Zabbix output: trapper values (zabbix_utils Sender) and a template derived from the telemetry contract."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config
    from ..telemetry.points import RunTelemetry
    from .sender import ZabbixOutput, ZabbixReport


def publish(
    output: ZabbixOutput, config: Config, telemetry: RunTelemetry, started_at: datetime, run_id: str
) -> ZabbixReport:
    """Send one run's readings; log and return what the server answered."""
    from ..telemetry.contract import load_contract
    from .mapping import build_map, plan_values
    from .sender import log_report

    hosts = {node.name: node.zabbix_host_name for node in config.nodes}
    plan = plan_values(telemetry, hosts, started_at, build_map(load_contract()))
    report = output.send(plan)
    log_report(report, output.where, run_id)
    return report
