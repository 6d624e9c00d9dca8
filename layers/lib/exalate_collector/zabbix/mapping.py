"""Pure mapping: the telemetry contract -> Zabbix items, and one run's telemetry -> trapper values.

The rules, applied to every metric of ``contract.yaml`` (so a new metric needs no edit here):

- ``exalate.node`` is the Zabbix host (``zabbix_host`` of the node, default its name), never a key parameter.
- The other required attributes, in contract order, are the key parameters:
  ``exalate.queue.size[AllContent,syncevents/syncrequests]``. Parameters are quoted exactly as Zabbix
  quotes a low-level discovery macro value (``zbx_quote_key_param``), so the key the collector sends is
  the key discovery created.
- ``error.type`` (a closed set) is not a parameter: it is the *value* of a text item
  holding the error.type of the last failure (``exalate.poll.errors[AllContent,syncevents/syncrequests]``).
- An optional attribute that other metrics require (the relation of ``exalate.endpoint.up``, absent for
  the once-per-node 4.0 endpoints) is a parameter too, empty when absent; other optional attributes
  (status code, ...) are dropped.
- A metric with no parameters is a plain item of the template (a "node item"); a metric with parameters
  is an item prototype of the discovery rule of its parameters. Metrics whose parameters are all
  configured or closed sets (relation, endpoint) share one rule per parameter set; a metric with a
  parameter taken from the data (an error reason) has its own rule, so that a reason seen in sync
  errors does not create an empty blob-errors item.
- Units ``s`` and histograms are floats, everything else unsigned integers.
- A metric the contract marks ``zabbix_unmapped`` (with the reason) has no item.

Besides the contract's metrics, the template has items that exist only for Zabbix (``EXTRA_ITEMS``):
a heartbeat, polls and failures per node, authentication failures, refused values, and the log of new
sync and blob errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .. import errors
from ..endpoints import TABLE
from ..telemetry.contract import Contract, MetricSpec
from ..telemetry.points import ENDPOINT_UP, POLL_ERRORS, RunTelemetry
from ..text import printable

NODE = "exalate.node"
#: Attributes whose value becomes the item's value (a text item) instead of a key parameter.
FOLDED = ("error.type",)
#: Besides attributes with a closed set of values, the relation is configured (or discovered from the
#: node's connection list), not taken from the data: metrics with only such parameters share a rule.
CONFIGURED = ("exalate.relation",)

HEARTBEAT = "exalate.collector.heartbeat"
POLLS = "exalate.collector.polls"
FAILURES = "exalate.collector.failures"
AUTH_FAILURES = "exalate.collector.auth_failures"
REFUSED = "exalate.collector.refused"
ERROR_LOG = "exalate.errors.log"

#: When an error reason is resolved and no longer reported, its Zabbix item gets a 0 (else it would keep
#: its last count for ever and its trigger would never resolve).
RESOLVED_ZERO = {e.resolved_event: e.reason_metric for e in TABLE if e.resolved_event and e.reason_metric}
ERROR_EVENTS = tuple(e.error_event for e in TABLE if e.error_event)


@dataclass(frozen=True)
class ItemSpec:
    key: str  # the metric name (the key without parameters)
    name: str
    value_type: str  # FLOAT | UNSIGNED | CHAR | LOG
    units: str
    description: str
    parameters: tuple[str, ...] = ()  # attributes, in key order
    rule: str | None = None  # discovery rule key; None: a plain item of the template
    folded: str | None = None  # attribute whose value is sent as the item's value

    def key_with(self, macros: Mapping[str, str]) -> str:
        if not self.parameters:
            return self.key
        return f"{self.key}[{','.join(macros[a] for a in self.parameters)}]"


@dataclass(frozen=True)
class RuleSpec:
    key: str
    name: str
    parameters: tuple[str, ...]
    #: Shared rules discover from every point that carries their parameters; the others only from
    #: their own metric's points.
    metrics: tuple[str, ...] = ()
    shared: bool = True


@dataclass(frozen=True)
class ZabbixMap:
    items: dict[str, ItemSpec]
    rules: dict[str, RuleSpec]
    unmapped: dict[str, str]  # metric -> why it has no Zabbix item


EXTRA_ITEMS = (
    ItemSpec(
        HEARTBEAT,
        "Collector heartbeat",
        "UNSIGNED",
        "unixtime",
        "Start of the collector's last run that reached Zabbix. Its absence for {$EXALATE.NODATA} raises a problem.",
    ),
    ItemSpec(POLLS, "Polls", "UNSIGNED", "", "GET requests made to the node in the last run (relations x endpoints)."),
    ItemSpec(FAILURES, "Failed polls", "UNSIGNED", "", "Polls of the last run that failed (exalate.endpoint.up = 0)."),
    ItemSpec(
        AUTH_FAILURES,
        "Authentication failures",
        "UNSIGNED",
        "",
        "Polls of the last run that failed for credentials: error.type unauthorized, forbidden, "
        "secret_unavailable or login_failed.",
    ),
    ItemSpec(
        REFUSED,
        "Values refused by Zabbix",
        "UNSIGNED",
        "",
        "Values of discovered items that this server refused in the last run. Expected in the first run "
        "after a new relation, endpoint or error reason appears (Zabbix creates discovered items "
        "asynchronously and accepts their values after its next configuration cache update); "
        "a problem when it lasts.",
    ),
    ItemSpec(
        ERROR_LOG,
        "Sync and blob errors (log)",
        "LOG",
        "",
        "One entry per new sync or blob error: issue key, reason, relation and the node's message, redacted.",
    ),
)


def _short(attribute: str) -> str:
    return attribute.rsplit(".", 1)[-1]


def macro(attribute: str) -> str:
    """``exalate.error.reason`` -> ``{#REASON}``."""
    return "{#" + _short(attribute).upper() + "}"


def _title(metric: str) -> str:
    words = metric.removeprefix("exalate.").replace(".", " ").replace("_", " ")
    return words[:1].upper() + words[1:]


def _units(spec: MetricSpec) -> str:
    return "" if spec.unit.startswith("{") or spec.unit == "1" else spec.unit


def _value_type(spec: MetricSpec) -> str:
    return "FLOAT" if spec.unit == "s" or spec.instrument == "histogram" else "UNSIGNED"


def build_map(contract: Contract) -> ZabbixMap:
    """The Zabbix items and discovery rules of every metric of the contract."""
    items: dict[str, ItemSpec] = {}
    rules: dict[str, RuleSpec] = {}
    unmapped: dict[str, str] = {}
    # Attributes that tell series apart somewhere (required by some metric): where a metric has one as
    # optional (the relation of endpoint.up: absent for the once-per-node 4.0 endpoints), it is a key
    # parameter too, empty when absent. Optional details (status code) are dropped.
    dimensions = {a for m in contract.metrics.values() for a in m.attributes} - {NODE, *FOLDED}
    for spec in contract.metrics.values():
        if spec.zabbix_unmapped:
            unmapped[spec.name] = spec.zabbix_unmapped
            continue
        folded = next((a for a in spec.attributes if a in FOLDED), None)
        wanted = {a for a in spec.attributes if a != NODE and a not in FOLDED}
        wanted |= {a for a in spec.optional_attributes if a in dimensions}
        parameters = tuple(a for a in contract.attributes if a in wanted)
        rule_key = None
        if parameters:
            shared = all(a in CONFIGURED or contract.attributes[a].values for a in parameters)
            if shared:
                rule_key = "exalate.discovery." + "_".join(_short(a) for a in parameters)
                rule_name = "Discovery of " + " x ".join(_short(a) + "s" for a in parameters)
            else:
                rule_key = f"{spec.name}.discovery"
                rule_name = f"Discovery of {_title(spec.name).lower()}"
            known = rules.get(rule_key)
            metrics = (known.metrics if known else ()) + (spec.name,)
            rules[rule_key] = RuleSpec(rule_key, rule_name, parameters, metrics, shared)
        description = spec.description
        if folded:
            description = f"The {folded} of the last failure. {description}"
        items[spec.name] = ItemSpec(
            key=spec.name,
            name=_title(spec.name) + (f": {folded} of the last failure" if folded else ""),
            value_type="CHAR" if folded else _value_type(spec),
            units="" if folded else _units(spec),
            description=description,
            parameters=parameters,
            rule=rule_key,
            folded=folded,
        )
    return ZabbixMap(items, rules, unmapped)


def quote_param(value: str) -> str | None:
    """A key parameter as Zabbix writes an LLD macro value into a key (``zbx_quote_key_param``).

    None when Zabbix cannot express it (a value that needs quoting and ends with a backslash).
    """
    needs = value[:1] in ('"', " ", "[") or "," in value or "]" in value
    if not needs:
        return value
    if value.endswith("\\"):
        return None
    return '"' + value.replace('"', '\\"') + '"'


def item_key(name: str, parameters: Sequence[str]) -> str | None:
    if not parameters:
        return name
    quoted = [quote_param(p) for p in parameters]
    if any(q is None for q in quoted):
        return None
    return f"{name}[{','.join(q for q in quoted if q is not None)}]"


# --- one run's values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    host: str
    key: str
    value: str
    clock: int
    ns: int = 0


@dataclass
class HostPlan:
    """What one Zabbix host gets in one run, in the order it is sent."""

    host: str
    #: Node items and discovery data: they exist as soon as the template is linked.
    first: list[Value] = field(default_factory=list)
    #: Values of discovered items: refused until discovery created them and the server's cache knows them.
    second: list[Value] = field(default_factory=list)


@dataclass
class SendPlan:
    hosts: dict[str, HostPlan]
    #: Keys Zabbix cannot express (a parameter needing quotes that ends with a backslash); not sent.
    unsendable: list[str] = field(default_factory=list)


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return printable(str(value))


def plan_values(
    telemetry: RunTelemetry,
    hosts: Mapping[str, str],
    started_at: datetime,
    zmap: ZabbixMap,
) -> SendPlan:
    """Every reading of a run as trapper values, per Zabbix host (``hosts``: node name -> host)."""
    import json

    stamp = started_at.timestamp()
    clock, ns = int(stamp), round((stamp - int(stamp)) * 1e9)
    plans = {host: HostPlan(host) for host in dict.fromkeys(hosts.values())}
    rows: dict[tuple[str, str], dict[tuple[str, ...], None]] = {}
    seen: set[tuple[str, str]] = set()
    unsendable: list[str] = []

    def add(host: str, spec: ItemSpec, attributes: Mapping[str, object], value: object) -> None:
        parameters = [printable(str(attributes.get(a, ""))) for a in spec.parameters]
        key = item_key(spec.key, parameters)
        if key is None:
            unsendable.append(f"{spec.key}{parameters}")
            return
        if (host, key) in seen:
            return
        seen.add((host, key))
        target = plans[host].second if spec.rule else plans[host].first
        target.append(Value(host, key, _text(value), clock, ns))
        if spec.rule:
            rows.setdefault((host, spec.rule), {})[tuple(parameters)] = None

    def hosts_of(attributes: Mapping[str, object]) -> list[str]:
        node = attributes.get(NODE)
        if node is None:
            return list(plans)
        host = hosts.get(str(node))
        return [host] if host is not None else []

    for point in telemetry.points:
        spec = zmap.items.get(point.name)
        if spec is None:
            continue
        value = point.attributes.get(spec.folded) if spec.folded else point.value
        for host in hosts_of(point.attributes):
            add(host, spec, point.attributes, value)
            for rule in zmap.rules.values():
                if rule.shared and rule.key != spec.rule and all(a in point.attributes for a in rule.parameters):
                    row = tuple(printable(str(point.attributes.get(a, ""))) for a in rule.parameters)
                    rows.setdefault((host, rule.key), {})[row] = None
    for event in telemetry.events:
        metric = RESOLVED_ZERO.get(event.name)
        spec = zmap.items.get(metric) if metric else None
        if spec is not None and all(a in event.attributes for a in spec.parameters):
            for host in hosts_of(event.attributes):
                add(host, spec, event.attributes, 0)

    auth = {cls.error_type for cls in errors.poll_failure_types() if getattr(cls, "authentication", False)}
    for node, host in hosts.items():
        plan = plans[host]
        ups = [p for p in telemetry.named(ENDPOINT_UP) if p.attributes.get(NODE) == node]
        failed = [p for p in telemetry.named(POLL_ERRORS) if p.attributes.get(NODE) == node]
        extra = {
            HEARTBEAT: clock,
            POLLS: len(ups),
            FAILURES: sum(1 for p in ups if p.value == 0),
            AUTH_FAILURES: sum(1 for p in failed if p.attributes["error.type"] in auth),
        }
        plan.first.extend(Value(host, key, str(value), clock, ns) for key, value in extra.items())
        events = [e for e in telemetry.events if e.name in ERROR_EVENTS and e.attributes.get(NODE) == node]
        log_lines = [error_log_line(e.attributes, e.body) for e in events]
        plan.first.extend(Value(host, ERROR_LOG, line, clock, ns + i) for i, line in enumerate(log_lines))
    for rule in zmap.rules.values():
        for host, plan in plans.items():
            found = rows.get((host, rule.key), {})
            data = [{macro(a): v for a, v in zip(rule.parameters, row, strict=True)} for row in found]
            plan.first.insert(0, Value(host, rule.key, json.dumps(data, separators=(",", ":")), clock, ns))
    return SendPlan(plans, unsendable)


def error_log_line(attributes: Mapping[str, object], body: str) -> str:
    """``AC-113 SCRIPT_ERROR [AllContent] <message>``: the event's body is already redacted."""
    key = attributes.get("exalate.issue.key") or "-"
    line = f"{key} {attributes.get('exalate.error.reason', 'UNKNOWN')} [{attributes.get('exalate.relation')}] {body}"
    return printable(line)  # node text: one line, no control character (Zabbix shows it as it is)


def refused_values(host: str, refused: int, clock: int) -> list[Value]:
    return [Value(host, REFUSED, str(refused), clock)]
