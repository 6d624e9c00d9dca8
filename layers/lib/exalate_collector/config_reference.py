"""The reference table of every configuration key, from the keys' own declarations.

docs/configuration.md holds it between the markers below; a test checks it is current. Regenerate:
``python -m exalate_collector.config_reference docs/configuration.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import fields
from .auth_schemes import SCHEMES
from .node_config import Discover, Limits, NodeConfig, ZabbixConfig

BEGIN = "<!-- keys: generated from the declarations (python -m exalate_collector.config_reference) -->"
END = "<!-- end of keys -->"


def table() -> str:
    lines = ["| key | takes | default | what it is |", "|---|---|---|---|"]
    lines += fields.rows(NodeConfig, "nodes[].")
    lines += fields.rows(Discover, "nodes[].discover.")
    for name, scheme in SCHEMES.items():
        doc = (scheme.settings.__doc__ or "").strip().replace("``", "`")
        lines.append(f"| `nodes[].auth.type: {name}` | | | {doc} |")
        lines += fields.rows(scheme.settings, "nodes[].auth.")
    lines += fields.rows(Limits, "limits.")
    lines += fields.rows(ZabbixConfig, "zabbix.")
    return "\n".join(lines)


def section(text: str) -> str:
    """The generated part of a page, between the markers ('' without them)."""
    if BEGIN not in text or END not in text:
        return ""
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def main(argv: list[str]) -> int:
    if not argv:
        sys.stdout.write(table() + "\n")
        return 0
    page = Path(argv[0])
    text = page.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        sys.stderr.write(f"{page}: no {BEGIN} ... {END} markers\n")
        return 1
    before, rest = text.split(BEGIN, 1)
    page.write_text(f"{before}{BEGIN}\n{table()}\n{END}{rest.split(END, 1)[1]}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
