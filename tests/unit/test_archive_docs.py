"""docs/archive.md: the record schema table and the Athena DDL agree with what the archiver writes."""

from __future__ import annotations

import re

from exalate_collector.archive.records import RECORD_FIELDS, record_of
from exalate_collector.endpoints import SYNC_REQUESTS

from ..conftest import ROOT, exchange_for

DOC = (ROOT / "docs" / "archive.md").read_text(encoding="utf-8")
ATHENA_TYPES = {str: "string", int: "int", float: "double", bool: "boolean"}


def ddl() -> str:
    match = re.search(r"```sql\n(CREATE EXTERNAL TABLE.*?;)\n```", DOC, re.S)
    assert match, "no CREATE EXTERNAL TABLE in docs/archive.md"
    return match.group(1)


def ddl_columns() -> dict[str, str]:
    body = re.search(r"CREATE EXTERNAL TABLE \w+ \((.*?)\)\nPARTITIONED BY", ddl(), re.S)
    assert body
    columns = {}
    for line in body.group(1).strip().splitlines():
        name, kind = line.strip().rstrip(",").split()
        columns[name.strip("`")] = kind
    return columns


def test_ddl_columns_plus_partitions_are_exactly_the_record_fields():
    partitions = re.search(r"PARTITIONED BY \((.*?)\)", ddl()).group(1)
    partition_names = {p.split()[0] for p in partitions.split(",")}
    assert partition_names == {"dt", "hour", "node"}
    assert set(ddl_columns()) | {"node"} == set(RECORD_FIELDS)
    assert "node" not in ddl_columns()  # a partition column cannot be repeated among the data columns


def test_ddl_types_fit_the_values_written():
    record = record_of("r", exchange_for(SYNC_REQUESTS, b"[]"))
    columns = ddl_columns()
    for name, value in record.items():
        if name == "node" or value is None:
            continue
        expected = ATHENA_TYPES[type(value)]
        assert columns[name] in ({expected, "bigint"} if expected == "int" else {expected}), name


def test_ddl_syntax_basics():
    text = ddl()
    assert text.count("(") == text.count(")")
    assert "'projection.enabled' = 'true'" in text
    for key in ("dt", "hour", "node"):
        assert f"'projection.{key}.type'" in text and "${" + key + "}" in text
    assert "org.openx.data.jsonserde.JsonSerDe" in text


def test_schema_table_lists_every_field_in_order():
    rows = re.findall(r"^\| `(\w+)` \|", DOC, re.M)
    assert tuple(rows) == RECORD_FIELDS
