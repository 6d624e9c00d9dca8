"""Pure: the SQS message between the collector and the archiver.

Version 1. ``kind: inline`` carries the gzip JSON Lines in base64; ``kind: claim_check`` carries the
bucket, key, size and SHA-256 of a staging object holding the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

#: SQS takes 1 MiB (1,048,576 bytes) per message; keep a margin for the service's own accounting.
MAX_MESSAGE_BYTES: Final = 1_040_000


class EnvelopeError(ValueError):
    """The message is not a version 1 exalate-collector archive message."""


@dataclass(frozen=True)
class Envelope:
    run_id: str
    node: str
    started_at: datetime
    records: int
    kind: str  # inline | claim_check
    payload: bytes | None = None  # inline only
    bucket: str | None = None  # claim_check only
    key: str | None = None
    size: int | None = None
    sha256: str | None = None


def _head(run_id: str, node: str, started_at: datetime, records: int) -> dict[str, Any]:
    return {"v": 1, "run_id": run_id, "node": node, "started_at": started_at.isoformat(), "records": records}


def inline_message(run_id: str, node: str, started_at: datetime, records: int, payload: bytes) -> str:
    body = {
        **_head(run_id, node, started_at, records),
        "kind": "inline",
        "payload": base64.b64encode(payload).decode("ascii"),
    }
    return json.dumps(body, separators=(",", ":"))


def claim_message(
    run_id: str, node: str, started_at: datetime, records: int, bucket: str, key: str, payload: bytes
) -> str:
    body = {
        **_head(run_id, node, started_at, records),
        "kind": "claim_check",
        "bucket": bucket,
        "key": key,
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    return json.dumps(body, separators=(",", ":"))


def fits(message: str) -> bool:
    return len(message.encode("utf-8")) <= MAX_MESSAGE_BYTES


def inline_fits(payload_bytes: int) -> bool:
    """Whether a payload of this size fits inline (base64 is 4/3 of it, plus a small head)."""
    return (payload_bytes + 2) // 3 * 4 + 1024 <= MAX_MESSAGE_BYTES


def parse_message(body: str) -> Envelope:
    try:
        data = json.loads(body)
        if data.get("v") != 1:
            raise EnvelopeError(f"unsupported message version {data.get('v')!r}")
        run_id, node = str(data["run_id"]), str(data["node"])
        started_at, records = datetime.fromisoformat(data["started_at"]), int(data["records"])
        if data["kind"] == "inline":
            payload = base64.b64decode(data["payload"], validate=True)
            return Envelope(run_id, node, started_at, records, kind="inline", payload=payload)
        if data["kind"] == "claim_check":
            return Envelope(
                run_id,
                node,
                started_at,
                records,
                kind="claim_check",
                bucket=str(data["bucket"]),
                key=str(data["key"]),
                size=int(data["size"]),
                sha256=str(data["sha256"]),
            )
        raise EnvelopeError(f"unknown message kind {data['kind']!r}")
    except EnvelopeError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EnvelopeError(f"malformed archive message: {type(exc).__name__}") from None
