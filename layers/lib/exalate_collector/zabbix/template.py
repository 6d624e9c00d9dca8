"""The Zabbix template "Exalate node by exalate-collector", generated from the telemetry contract:
``python -m exalate_collector.zabbix.template`` prints it (``make zabbix-template`` writes
``integrations/zabbix/exalate_node_by_collector.yaml``; a test keeps the committed file equal to this).
Items, item prototypes, discovery rules, units and descriptions come from the contract through
``mapping.build_map``; the triggers and the user macros of their thresholds are declared in ``triggers``,
the graphs and the dashboard below name the metrics they draw. Also ``import_rules``, the rules of the
API's ``configuration.import`` for this template on a server of a given version.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..endpoints import QUEUE_SIZE
from ..telemetry.contract import Contract, load_contract
from ..telemetry.points import ENDPOINT_UP, POLL_DURATION, QUEUE_OLDEST_AGE, QUEUE_STUCK, RELATION_UP, RUN_DURATION
from .mapping import EXTRA_ITEMS, FAILURES, POLLS, ItemSpec, ZabbixMap, build_map, macro
from .triggers import MACROS, TRIGGERS, TriggerSpec

TEMPLATE = "Exalate node by exalate-collector"
GROUP = "Templates/Applications"
EXPORT_VERSION = "6.0"
UP_MAP = "Exalate endpoint state"
RELATION_MAP = "Exalate relation state"


def uuid_for(*path: str) -> str:
    """A stable UUIDv4-shaped id (Zabbix checks the shape) derived from what the object is."""
    digest = bytearray(hashlib.md5("/".join(("exalate-collector", *path)).encode(), usedforsecurity=False).digest())
    digest[6] = (digest[6] & 0x0F) | 0x40
    digest[8] = (digest[8] & 0x3F) | 0x80
    return digest.hex()


#: (name, rule-less metrics or prototypes of one rule, drawn together)
GRAPHS = (
    ("Exalate: run duration", (RUN_DURATION,)),
    ("Exalate: polls and failures", (POLLS, FAILURES)),
)
GRAPH_PROTOTYPES = (
    ("Queue {#RELATION} {#ENDPOINT}: items", (QUEUE_SIZE, QUEUE_STUCK)),
    ("Queue {#RELATION} {#ENDPOINT}: oldest item age", (QUEUE_OLDEST_AGE,)),
    ("Poll {#RELATION} {#ENDPOINT}: duration", (POLL_DURATION,)),
)
COLORS = ("1A7C11", "F63100", "2774A4", "A54F10", "FC6EA3", "6C59DC")


def _ref(spec: ItemSpec) -> str:
    return f"/{TEMPLATE}/{spec.key_with({a: macro(a) for a in spec.parameters})}"


def _expression(trigger: TriggerSpec, specs: dict[str, ItemSpec]) -> str:
    text = trigger.expression.replace("{key}", _ref(specs[trigger.metric]))
    for name, spec in specs.items():
        text = text.replace("{key:" + name + "}", _ref(spec))
    return text


def _item(spec: ItemSpec, where: str, valuemaps: dict[str, str]) -> dict[str, Any]:
    macros = {a: macro(a) for a in spec.parameters}
    suffix = " " + " ".join(macros.values()) if macros else ""
    item: dict[str, Any] = {
        "uuid": uuid_for(where, spec.key),
        "name": spec.name + suffix,
        "type": "TRAP",
        "key": spec.key_with(macros),
        "delay": "0",
        "value_type": spec.value_type,
    }
    if spec.value_type in ("CHAR", "LOG", "TEXT"):
        item["trends"] = "0"
    if spec.units:
        item["units"] = spec.units
    item["description"] = spec.description
    if spec.key in valuemaps:
        item["valuemap"] = {"name": valuemaps[spec.key]}
    tags = [{"tag": "component", "value": "exalate"}]
    tags += [{"tag": a.rsplit(".", 1)[-1], "value": m} for a, m in macros.items()]
    item["tags"] = tags
    return item


def _trigger(trigger: TriggerSpec, specs: dict[str, ItemSpec], where: str) -> dict[str, Any]:
    return {
        "uuid": uuid_for(where, "trigger", trigger.name),
        "expression": _expression(trigger, specs),
        "name": trigger.name,
        "priority": trigger.priority,
        "description": trigger.description,
        "tags": [{"tag": "scope", "value": "availability" if trigger.priority == "HIGH" else "notice"}],
    }


def _graph(name: str, metrics: tuple[str, ...], specs: dict[str, ItemSpec], where: str) -> dict[str, Any]:
    return {
        "uuid": uuid_for(where, "graph", name),
        "name": name,
        "graph_items": [
            {
                "sortorder": str(i) if i else None,
                "color": COLORS[i % len(COLORS)],
                "item": {"host": TEMPLATE, "key": _ref(specs[m]).split("/", 2)[2]},
            }
            for i, m in enumerate(metrics)
        ],
    }


def build_template(contract: Contract | None = None) -> dict[str, Any]:
    zmap: ZabbixMap = build_map(contract or load_contract())
    specs = {**zmap.items, **{spec.key: spec for spec in EXTRA_ITEMS}}
    valuemaps = {ENDPOINT_UP: UP_MAP, RELATION_UP: RELATION_MAP}
    plain = [spec for spec in specs.values() if spec.rule is None]
    items = []
    for spec in plain:
        item = _item(spec, "item", valuemaps)
        own = [_trigger(t, specs, "item") for t in TRIGGERS if t.metric == spec.key and _single(t)]
        if own:
            item["triggers"] = own
        items.append(item)
    rules = []
    for rule in zmap.rules.values():
        where = f"rule/{rule.key}"
        members = [spec for spec in zmap.items.values() if spec.rule == rule.key]
        prototypes = []
        for spec in members:
            item = _item(spec, where, valuemaps)
            own = [_trigger(t, specs, where) for t in TRIGGERS if t.metric == spec.key and _single(t)]
            if own:
                item["trigger_prototypes"] = own
            prototypes.append(item)
        keys = {spec.key for spec in members}
        shared_triggers = [_trigger(t, specs, where) for t in TRIGGERS if t.metric in keys and not _single(t)]
        graphs = [_graph(n, ms, specs, where) for n, ms in GRAPH_PROTOTYPES if set(ms) <= keys]
        entry: dict[str, Any] = {
            "uuid": uuid_for(where),
            "name": rule.name,
            "type": "TRAP",
            "key": rule.key,
            "delay": "0",
            "lifetime": "{$EXALATE.LLD.LIFETIME}",
            "description": (
                "Fed by exalate-collector in every run (trapper): one row per "
                + " x ".join(macro(a) for a in rule.parameters)
                + (" seen in any reading." if rule.shared else f" seen in {', '.join(rule.metrics)}.")
            ),
            "item_prototypes": prototypes,
        }
        if shared_triggers:
            entry["trigger_prototypes"] = shared_triggers
        if graphs:
            entry["graph_prototypes"] = graphs
        rules.append(entry)
    template: dict[str, Any] = {
        "uuid": uuid_for("template"),
        "template": TEMPLATE,
        "name": TEMPLATE,
        "description": (
            "Exalate synchronization queues, sync and attachment errors and relation state, sent by "
            "exalate-collector as trapper values (one host per Exalate node). Generated from "
            "the collector's telemetry contract; see the README's Zabbix section."
        ),
        "groups": [{"name": GROUP}],
        "items": items,
        "discovery_rules": rules,
        "tags": [{"tag": "class", "value": "application"}, {"tag": "target", "value": "exalate"}],
        "macros": [{"macro": m, "value": v, "description": d} for m, (v, d) in MACROS.items()],
        "dashboards": [_dashboard(specs)],
        "valuemaps": [
            _valuemap(UP_MAP, {"0": "Down", "1": "Up"}),
            _valuemap(RELATION_MAP, {"0": "Removed on the other side", "1": "Present"}),
        ],
    }
    export = {
        "version": EXPORT_VERSION,
        "groups": [{"uuid": uuid_for("group", GROUP), "name": GROUP}],
        "templates": [template],
        "graphs": [_graph(n, ms, specs, "graph") for n, ms in GRAPHS],
    }
    return {"zabbix_export": _clean(export)}


def _single(trigger: TriggerSpec) -> bool:
    return "{key:" not in trigger.expression


def _valuemap(name: str, mappings: dict[str, str]) -> dict[str, Any]:
    return {
        "uuid": uuid_for("valuemap", name),
        "name": name,
        "mappings": [{"value": v, "newvalue": n} for v, n in mappings.items()],
    }


def _dashboard(specs: dict[str, ItemSpec]) -> dict[str, Any]:
    widgets = []
    y = 0
    for name, _ in GRAPHS:
        widgets.append(_widget("GRAPH_CLASSIC", "GRAPH", name, 0 if y % 2 == 0 else 12, (y // 2) * 5))
        y += 1
    row = ((y + 1) // 2) * 5
    for i, (name, metrics) in enumerate(GRAPH_PROTOTYPES):
        if all(specs[m].rule for m in metrics):
            widgets.append(_widget("GRAPH_PROTOTYPE", "GRAPH_PROTOTYPE", name, 0, row + i * 5, width=24))
    return {"uuid": uuid_for("dashboard"), "name": "Exalate node", "pages": [{"widgets": widgets}]}


def _widget(kind: str, field: str, graph: str, x: int, y: int, width: int = 12) -> dict[str, Any]:
    return {
        "type": kind,
        "x": str(x),
        "y": str(y),
        "width": str(width),
        "height": "5",
        "fields": [{"type": field, "name": "graphid", "value": {"host": TEMPLATE, "name": graph}}],
    }


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


#: The import rules for this template (``configuration.import``): create what is missing, update what exists.
_IMPORTED = ("templates", "items", "discoveryRules", "triggers", "graphs", "valueMaps", "templateDashboards")


def import_rules(api_version: float | str) -> dict[str, dict[str, bool]]:
    """The ``rules`` of the API's ``configuration.import`` for this template on a server of ``api_version``
    (``6.0``, ``"7.0.9"``, zabbix_utils' ``api_version()``): up to 6.0 host and template groups are one rule,
    ``groups``; from 6.2 on (7.0 LTS) they are ``template_groups`` and ``host_groups``, and ``groups`` is refused."""
    major, _, minor = str(api_version).partition(".")
    new_groups = (int(major), int(minor.partition(".")[0] or 0)) >= (6, 2)
    groups = ("template_groups", "host_groups") if new_groups else ("groups",)
    rules = {name: {"createMissing": True} for name in groups}
    rules |= {name: {"createMissing": True, "updateExisting": True} for name in _IMPORTED}
    rules["templateLinkage"] = {"createMissing": True}
    return rules


def render(contract: Contract | None = None) -> str:
    import yaml

    header = (
        "# Generated from layers/lib/exalate_collector/telemetry/contract.yaml by `make zabbix-template`.\n"
        "# Do not edit by hand: a test fails when this file and the generator differ.\n"
    )
    body = yaml.safe_dump(build_template(contract), sort_keys=False, allow_unicode=True, width=1000)
    return header + body


if __name__ == "__main__":
    import sys

    sys.stdout.write(render())
