"""What the Zabbix template raises problems for: its triggers (each on the item of one metric, or across the
items of one discovery rule, by ``{key}`` and ``{key:<metric>}`` in its expression) and the user macros
that hold every threshold and period they compare with, so that an operator tunes them per host or per
relation without editing the template. Declarations only; ``template`` turns them into Zabbix's export.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import errors
from ..endpoints import BLOB_ERRORS, SYNC_ERRORS, row
from ..telemetry.points import ENDPOINT_UP, POLL_ERRORS, QUEUE_OLDEST_AGE, QUEUE_STUCK, RELATION_UP
from .mapping import AUTH_FAILURES, ERROR_LOG, HEARTBEAT, REFUSED

SYNC_ERRORS_METRIC = row(SYNC_ERRORS).reason_metric or ""
BLOB_ERRORS_METRIC = row(BLOB_ERRORS).reason_metric or ""
NODE_ERRORS = "exalate.node.errors"

MACROS = {
    "{$EXALATE.NODATA}": ("15m", "No data from the collector for this long raises a problem (3 runs at 5 minutes)."),
    "{$EXALATE.LLD.LIFETIME}": (
        "7d",
        "Discovered relations, endpoints and error reasons no longer reported are deleted after this long.",
    ),
    "{$EXALATE.QUEUE.OLDEST.MAX}": (
        "3600",
        'Seconds an item may wait in a queue. Per relation: {$EXALATE.QUEUE.OLDEST.MAX:"<relation>"}.',
    ),
    "{$EXALATE.QUEUE.STUCK.MAX}": ("0", "Stuck items (older than the node's stuck_after_s) tolerated in a queue."),
    "{$EXALATE.SYNC.ERRORS.MAX}": ("0", "Sync errors of one reason tolerated on a relation."),
    "{$EXALATE.BLOB.ERRORS.MAX}": ("0", "Attachment (blob) errors of one reason tolerated on a relation."),
    "{$EXALATE.AUTH.FAILURES.MAX}": ("0", "Polls failing for credentials tolerated in one run."),
    "{$EXALATE.NODE.ERRORS.MAX}": ("0", "Errors the node's own monitor (4.0 cmonitor, numErrors) may report."),
    "{$EXALATE.REFUSED.PERIOD}": (
        "15m",
        "Values refused by Zabbix in every run for this long raise a problem (the first run after a new "
        "relation or reason is refused by design).",
    ),
    "{$EXALATE.ERROR.LOG.WINDOW}": ("1h", "A new sync or blob error keeps its information problem open this long."),
}

#: Endpoint-down excludes what other triggers already say: the relation is gone, or credentials fail.
_NOT_DOWN = [errors.ConnectionNotFound.error_type] + [
    cls.error_type for cls in errors.poll_failure_types() if getattr(cls, "authentication", False)
]


@dataclass(frozen=True)
class TriggerSpec:
    metric: str
    name: str
    expression: str  # with {key} for the item's own key and {key:<metric>} for another item of its rule
    priority: str
    description: str


TRIGGERS = (
    TriggerSpec(
        RELATION_UP,
        "Relation {#RELATION} was removed on the other side",
        "last({key})=0",
        "HIGH",
        'The node answers "Connection not found. Seems like it was removed on the Destination side": '
        "the partner removed the connection, nothing syncs on it. Remove the relation from the collector's "
        "configuration if that was intended.",
    ),
    TriggerSpec(
        ENDPOINT_UP,
        "Endpoint {#ENDPOINT} of relation {#RELATION} is down",
        "last({key})=0 and find({key:" + POLL_ERRORS + '},,"regexp","^(' + "|".join(_NOT_DOWN) + ')$")=0',
        "AVERAGE",
        "The last poll failed for another reason than a removed relation or credentials; the item "
        "'Poll errors' holds the error.type (timeout, server_error, invalid_json, ...).",
    ),
    TriggerSpec(
        SYNC_ERRORS_METRIC,
        "Sync errors {#REASON} on relation {#RELATION}",
        "last({key})>{$EXALATE.SYNC.ERRORS.MAX} and nodata({key},{$EXALATE.NODATA})=0",
        "WARNING",
        "The other side failed to process sync requests for this reason. The 'Sync and blob errors (log)' "
        "item lists each error with its issue key.",
    ),
    TriggerSpec(
        BLOB_ERRORS_METRIC,
        "Attachment errors {#REASON} on relation {#RELATION}",
        "last({key})>{$EXALATE.BLOB.ERRORS.MAX} and nodata({key},{$EXALATE.NODATA})=0",
        "WARNING",
        "The other side failed to process attachments for this reason.",
    ),
    TriggerSpec(
        QUEUE_STUCK,
        "Queue {#ENDPOINT} of relation {#RELATION} has stuck items",
        "last({key})>{$EXALATE.QUEUE.STUCK.MAX}",
        "AVERAGE",
        "Items have been waiting longer than the node's stuck_after_s (30 minutes by default).",
    ),
    TriggerSpec(
        QUEUE_OLDEST_AGE,
        "Oldest item in queue {#ENDPOINT} of relation {#RELATION} is older than "
        '{$EXALATE.QUEUE.OLDEST.MAX:"{#RELATION}"}s',
        'last({key})>{$EXALATE.QUEUE.OLDEST.MAX:"{#RELATION}"}',
        "WARNING",
        "Measured from the collector's memory between runs (it restarts at 0 when that memory is lost).",
    ),
    TriggerSpec(
        NODE_ERRORS,
        "The Exalate node reports errors",
        "last({key})>{$EXALATE.NODE.ERRORS.MAX}",
        "WARNING",
        "numErrors of the node's customer monitor (4.0 cmonitor, collect: [errors]) is above the threshold.",
    ),
    TriggerSpec(
        HEARTBEAT,
        "No data from exalate-collector for {$EXALATE.NODATA}",
        "nodata({key},{$EXALATE.NODATA})=1",
        "HIGH",
        "The collector has not sent a run for this host: it is not running, failing before it sends, or "
        "cannot reach this Zabbix server (its log says zabbix_send_failed).",
    ),
    TriggerSpec(
        AUTH_FAILURES,
        "Authentication to the Exalate node is failing",
        "last({key})>{$EXALATE.AUTH.FAILURES.MAX}",
        "HIGH",
        "Polls failed with unauthorized (401: wrong credentials, per Exalate), forbidden (403: no valid "
        "authentication), secret_unavailable (the collector could not read the secret) or login_failed "
        "(the node's login gave no token: wrong user or password).",
    ),
    TriggerSpec(
        REFUSED,
        "Zabbix refuses values from exalate-collector",
        "min({key},{$EXALATE.REFUSED.PERIOD})>0",
        "WARNING",
        "Every run for {$EXALATE.REFUSED.PERIOD} had values refused: an item prototype is disabled or "
        "missing, or discovery fails (see the discovery rules' state).",
    ),
    TriggerSpec(
        ERROR_LOG,
        "New sync or blob errors on the Exalate node",
        "nodata({key},{$EXALATE.ERROR.LOG.WINDOW})=0",
        "INFO",
        "Latest entry: {ITEM.LASTVALUE1}. Closes by itself after {$EXALATE.ERROR.LOG.WINDOW} without a new error.",
    ),
)
