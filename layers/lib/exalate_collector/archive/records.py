"""Pure: exchanges -> archive records -> gzip JSON Lines, and the archive's key layout.

A record keeps the body exactly as received: as text when it decodes as UTF-8, otherwise base64 with
``body_base64: true``. Bodies are never parsed or reformatted on the way.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from .. import __version__
from ..model import Exchange

#: The record schema, in order. docs/archive.md and the Athena DDL are tested against it.
RECORD_FIELDS: Final = (
    "run_id",
    "node",
    "relation",
    "endpoint",
    "url",
    "requested_at",
    "elapsed_s",
    "status_code",
    "content_type",
    "content_length",
    "date",
    "body",
    "body_base64",
    "body_bytes",
    "body_sha256",
    "error_type",
    "collector_version",
)


def record_of(run_id: str, ex: Exchange) -> dict[str, Any]:
    """One exchange as an archive record (failed polls too: their body is the evidence)."""
    try:
        body, is_base64 = ex.body.decode("utf-8"), False
    except UnicodeDecodeError:
        body, is_base64 = base64.b64encode(ex.body).decode("ascii"), True
    return {
        "run_id": run_id,
        "node": ex.node,
        "relation": ex.relation,
        "endpoint": ex.endpoint,
        "url": ex.url,
        "requested_at": ex.started_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "elapsed_s": round(ex.elapsed_s, 6),
        "status_code": ex.status_code,
        "content_type": ex.content_type,
        "content_length": ex.content_length,
        "date": ex.date,
        "body": body,
        "body_base64": is_base64,
        "body_bytes": len(ex.body),
        "body_sha256": hashlib.sha256(ex.body).hexdigest(),
        "error_type": ex.failure.error_type if ex.failure else None,
        "collector_version": __version__,
    }


def body_of(record: dict[str, Any]) -> bytes:
    """The original body bytes of a record."""
    if record["body_base64"]:
        return base64.b64decode(record["body"])
    return str(record["body"]).encode("utf-8")


def encode_jsonl_gz(records: Iterable[dict[str, Any]]) -> bytes:
    """Deterministic gzip JSON Lines (mtime 0): the same records always give the same bytes."""
    lines = b"".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n" for r in records)
    return gzip.compress(lines, compresslevel=6, mtime=0)


def decode_jsonl_gz(payload: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(payload).splitlines() if line]


def node_segment(node: str) -> str:
    """A node name made safe for an S3 key and a Hive partition value (percent-encoded)."""
    return quote(node, safe="-_.")


def archive_key(prefix: str, started_at: datetime, node: str, run_id: str) -> str:
    """``PREFIX/dt=YYYY-MM-DD/hour=HH/node=NAME/<run id>.jsonl.gz`` (UTC)."""
    return f"{_prefix(prefix)}dt={started_at:%Y-%m-%d}/hour={started_at:%H}/node={node_segment(node)}/{run_id}.jsonl.gz"


def staging_key(prefix: str, run_id: str, node: str) -> str:
    return f"{_prefix(prefix)}{run_id}/{node_segment(node)}.jsonl.gz"


def _prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def by_node(exchanges: Sequence[Exchange]) -> dict[str, list[Exchange]]:
    """Exchanges grouped per node, configuration order kept."""
    groups: dict[str, list[Exchange]] = {}
    for ex in exchanges:
        groups.setdefault(ex.node, []).append(ex)
    return groups
