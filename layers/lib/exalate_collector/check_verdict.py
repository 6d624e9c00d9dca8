"""The verdict of ``exalate-collector check``: a ``Report`` (every node's probe and the rows of what is not
a node) rendered as the table of steps with their fixes (each fix once per node and ``error.type``), the
failures' details, and one verdict line; ``exit_code`` 0 when every step passed, else 1.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .check_steps import Probe, Row, rows
from .console import table


@dataclass
class Report:
    probes: list[Probe]
    #: Rows of what is not a node (the Zabbix PSK).
    others: list[Row] = field(default_factory=list)

    def rows(self) -> list[Row]:
        return [row for probe in self.probes for row in rows(probe)] + self.others

    @property
    def ok(self) -> bool:
        return not any(row.failed for row in self.rows())


def render(report: Report) -> str:
    """The table (one row per step, each failure with its fix), the failures' details, a verdict line."""
    found = report.rows()
    shown: set[tuple[str, str | None]] = set()
    cells = []
    for r in found:  # a fix once per node and error.type: six 401s need one fix
        fix = "(as above)" if r.failed and (r.node, r.error_type) in shown else r.hint
        shown.add((r.node, r.error_type))
        cells.append([r.node, r.step, r.result, fix])
    lines = [table(cells, ["node", "step", "result", "fix"])]
    details: dict[tuple[str, str | None, str], list[str]] = {}
    for r in found:
        if r.failed:
            details.setdefault((r.node, r.error_type, r.detail), []).append(r.step)
    if details:
        lines.append("\ndetails:")
        for (node, kind, detail), steps in details.items():
            more = f" (and {len(steps) - 1} more)" if len(steps) > 1 else ""
            lines.append(f"  {node} {steps[0]}{more}: {kind}: {detail}")
    lines.append("\n" + verdict(report))
    return "\n".join(lines)


def verdict(report: Report) -> str:
    """``check: 2 nodes, every step passed`` or ``check: 1 of 2 nodes failed (jira-a: unauthorized x6)``."""
    names = [p.node.name for p in report.probes]
    found = report.rows()
    by_node: dict[str, Counter[str]] = {}
    for row in found:
        if row.error_type is not None:
            by_node.setdefault(row.node, Counter())[row.error_type] += 1
    if not by_node:
        return f"check: {len(names)} node{'' if len(names) == 1 else 's'}, every step passed"
    parts = [
        f"{node}: " + ", ".join(f"{kind} x{count}" for kind, count in sorted(kinds.items()))
        for node, kinds in by_node.items()
    ]
    failing = sum(1 for name in names if name in by_node)
    return f"check: {failing} of {len(names)} node{'' if len(names) == 1 else 's'} failed ({'; '.join(parts)})"


def exit_code(report: Report) -> int:
    return 0 if report.ok else 1
