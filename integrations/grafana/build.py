"""Build the Grafana dashboard of exalate-collector with grafana-foundation-sdk (Grafana's own builder library).

    python integrations/grafana/build.py > integrations/grafana/exalate-collector.json   (make docs does it)

A test keeps the committed JSON equal to what this prints, and evaluates every query of it on a real
VictoriaMetrics fed by the collector (tests/integration/test_victoria_metrics.py). Metric and label names
are the Prometheus-style ones (docs/telemetry.md); the data source is any Prometheus-compatible one.
"""

from __future__ import annotations

import json
import sys

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    ValueMap,
    ValueMappingResult,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
#: The label filter every query carries: the dashboard's node and relation variables.
WHERE = 'exalate_node=~"$node", exalate_relation=~"$relation"'
#: The filter of the whole-node figures of the 4.0 API (no relation: a chosen relation does not hide them).
NODE = 'exalate_node=~"$node"'


def query(expr: str, legend: str = "", *, instant: bool = False) -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr).datasource(DATASOURCE)
    if legend:
        q = q.legend_format(legend)
    return q.instant() if instant else q.range()


def series(title: str, expr: str, legend: str, unit: str, description: str) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(query(expr, legend))
        .unit(unit)
        .min(0)
        .span(12)
        .height(8)
    )


def variable(name: str, label: str, values_of: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(f"label_values({values_of})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def build() -> dashboard.Dashboard:
    per_endpoint = "{{exalate_node}} {{exalate_relation}} {{exalate_endpoint}}"
    per_reason = "{{exalate_node}} {{exalate_relation}} {{exalate_error_reason}}"
    return (
        dashboard.Dashboard("Exalate synchronization")
        .uid("exalate-collector")
        .description("Queues, errors and endpoint health of Exalate nodes, from exalate-collector.")
        .tags(["exalate", "exalate-collector"])
        .time("now-6h", "now")
        .refresh("5m")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(variable("node", "Node", "exalate_endpoint_up_ratio, exalate_node"))
        .with_variable(
            variable("relation", "Relation", 'exalate_endpoint_up_ratio{exalate_node=~"$node"}, exalate_relation')
        )
        .with_row(dashboard.Row("Queues"))
        .with_panel(
            series(
                "Queue size",
                f"sum by (exalate_node, exalate_relation, exalate_endpoint) (exalate_queue_size{{{WHERE}}})",
                per_endpoint,
                "short",
                "Items each endpoint returned, per relation and endpoint (exalate.queue.size).",
            )
        )
        .with_panel(
            series(
                "Oldest item age",
                "max by (exalate_node, exalate_relation, exalate_endpoint) "
                f"(exalate_queue_oldest_age_seconds{{{WHERE}}})",
                per_endpoint,
                "s",
                "How long the oldest item still queued has been seen (exalate.queue.oldest_age).",
            )
        )
        .with_panel(
            series(
                "Stuck items",
                f"sum by (exalate_node, exalate_relation, exalate_endpoint) (exalate_queue_stuck{{{WHERE}}})",
                per_endpoint,
                "short",
                "Items queued for longer than the node's stuck_after_s (exalate.queue.stuck).",
            )
        )
        .with_row(dashboard.Row("Errors"))
        .with_panel(
            series(
                "Sync errors by reason",
                f"sum by (exalate_node, exalate_relation, exalate_error_reason) (exalate_sync_errors{{{WHERE}}})",
                per_reason,
                "short",
                "Items of syncrequests/errorresponses by errorReason (exalate.sync.errors).",
            )
        )
        .with_panel(
            series(
                "Attachment errors by reason",
                f"sum by (exalate_node, exalate_relation, exalate_error_reason) (exalate_blob_errors{{{WHERE}}})",
                per_reason,
                "short",
                "Items of syncrequests/bloberrorresponses by blobErrorReason (exalate.blob.errors).",
            )
        )
        .with_panel(
            series(
                "Failed polls by error.type",
                f"sum by (exalate_node, exalate_relation, error_type) "
                f"(increase(exalate_poll_errors_total{{{WHERE}}}[$__rate_interval]))",
                "{{exalate_node}} {{exalate_relation}} {{error_type}}",
                "short",
                "Polls that failed, by cause (exalate.poll.errors); see the exalate.poll.failure events.",
            )
        )
        .with_row(dashboard.Row("Whole node (4.0 API)"))
        .with_panel(
            series(
                "Node queue by direction",
                f"sum by (exalate_node, exalate_queue_direction) (exalate_queue_total{{{NODE}}})",
                "{{exalate_node}} {{exalate_queue_direction}}",
                "short",
                "The whole node's sync queue, outgoing (sync events to send) and incoming (sync requests received), "
                "from the 4.0 API (exalate.queue.total; collect: [queues]).",
            )
        )
        .with_panel(
            series(
                "Node errors",
                f"max by (exalate_node) (exalate_node_errors{{{NODE}}})",
                "{{exalate_node}}",
                "short",
                "Errors counted by the node's customer monitor, 4.0 cmonitor (exalate.node.errors; collect: [errors]).",
            )
        )
        .with_panel(
            table.Panel()
            .title("Connection status")
            .description(
                "Each connection of the node's 4.0 list with its status now: ACTIVE, DEACTIVATED, ... "
                "(exalate.connection.status; collect: [connections] or relations: auto)."
            )
            .datasource(DATASOURCE)
            .with_target(
                query(
                    "max by (exalate_node, exalate_relation, exalate_connection_status) "
                    f"(exalate_connection_status_ratio{{{WHERE}}}) == 1",
                    instant=True,
                ).format(PromQueryFormat.TABLE)
            )
            .span(24)
            .height(8)
        )
        .with_row(dashboard.Row("Health"))
        .with_panel(
            table.Panel()
            .title("Endpoint health")
            .description("1 = the endpoint answered and was understood, 0 = it failed (exalate.endpoint.up).")
            .datasource(DATASOURCE)
            .with_target(
                query(
                    f"max by (exalate_node, exalate_relation, exalate_endpoint) (exalate_endpoint_up_ratio{{{WHERE}}})",
                    instant=True,
                ).format(PromQueryFormat.TABLE)
            )
            .mappings(
                [
                    ValueMap(
                        options={
                            "0": ValueMappingResult(text="down", color="red"),
                            "1": ValueMappingResult(text="up", color="green"),
                        }
                    )
                ]
            )
            .span(12)
            .height(8)
        )
        .with_panel(
            series(
                "Poll duration (p95)",
                f"histogram_quantile(0.95, sum by (le, exalate_node, exalate_relation) "
                f"(rate(exalate_poll_duration_seconds_bucket{{{WHERE}}}[$__rate_interval])))",
                "{{exalate_node}} {{exalate_relation}}",
                "s",
                "95th percentile of the time of each GET, per relation (exalate.poll.duration).",
            )
        )
        .with_panel(
            stat.Panel()
            .title("Run duration")
            .description("Time of the last collection, reading secrets and polling (exalate.collector.run.duration).")
            .datasource(DATASOURCE)
            .with_target(query("max(exalate_collector_run_duration_seconds)", "run"))
            .unit("s")
            .span(12)
            .height(8)
        )
    )


def render() -> str:
    return json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
