"""The guide: the README stays a landing page, every link of it and of docs/ leads somewhere, and the
error-type table of docs/troubleshooting.md is the exception tree of errors.py."""

from __future__ import annotations

import re
from pathlib import Path

from exalate_collector import errors

from ..conftest import ROOT

#: Pages of the guide written by hand (docs/telemetry.md is generated: test_contract checks it).
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Linked before they exist (none now: docs/deploy.md came with issue 22).
PENDING: set[Path] = set()
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


def test_slugs_as_github_makes_them():
    assert _slug("The artifact on its target: `make check-lambda`") == "the-artifact-on-its-target-make-check-lambda"
    assert _slug("`error.type` values") == "errortype-values"


def test_every_relative_link_leads_to_a_file_and_heading_that_exist():
    broken = []
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            path, _, anchor = target.partition("#")
            where = (page.parent / path).resolve() if path else page
            if where in PENDING:
                continue
            if not where.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and where.suffix == ".md" and anchor not in _anchors(where):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []


def test_the_readme_is_a_landing_page_with_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    two = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^make (\w+)", two, flags=re.M) == ["demo", "test"]
    assert "## Poll your own node" in readme
    # the Zabbix section stays where other parts of the code point ("see the README's Zabbix section")
    assert "## Zabbix" in readme and "(docs/zabbix.md)" in readme


def _troubleshooting_types() -> list[str]:
    text = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    section = text.split("## Error types", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)


def test_the_error_type_table_is_the_exception_tree():
    assert _troubleshooting_types() == errors.error_types()  # every one, once, in the order of errors.py
    assert {"login_failed", "discovery_failed", "zabbix_send_failed"} <= set(_troubleshooting_types())


def test_the_migration_notes_are_kept():
    upgrading = (ROOT / "docs" / "upgrading.md").read_text(encoding="utf-8")
    assert "*Migration:* `EXALATE_EXPORT_MARGIN_S`" in upgrading
    assert "(docs/upgrading.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
