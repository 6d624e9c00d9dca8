"""Pure: the SQS message between the collector and the archiver.

Version 1. ``kind: inline`` carries the gzip JSON Lines in base64; ``kind: claim_check`` carries the
bucket, key, size and SHA-256 of a staging object holding the same bytes.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from .records import Payload, as_payload

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
    run_id: str, node: str, started_at: datetime, records: int, bucket: str, key: str, payload: bytes | Payload
) -> str:
    body = {
        **_head(run_id, node, started_at, records),
        "kind": "claim_check",
        "bucket": bucket,
        "key": key,
        "size": as_payload(payload).size,
        "sha256": as_payload(payload).sha256,
    }
    return json.dumps(body, separators=(",", ":"))


def fits(message: str) -> bool:
    return len(message.encode("utf-8")) <= MAX_MESSAGE_BYTES


def inline_fits(payload_bytes: int) -> bool:
    """Whether a payload of this size fits inline (base64 is 4/3 of it, plus a small head)."""
    return (payload_bytes + 2) // 3 * 4 + 1024 <= MAX_MESSAGE_BYTES


#: What ``runner.new_run_id`` makes: ``20261127T184500Z-1a2b3c4d``. Nothing else becomes part of a key.
RUN_ID = re.compile(r"^(\d{8}T\d{6}Z)-[0-9a-f]{8}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
#: A clock ahead by more than this is not a clock: the message is refused.
MAX_FUTURE = timedelta(days=1)


def check_head(run_id: str, node: str, started_at: datetime, records: int, now: datetime | None = None) -> None:
    """The fields that become the archive key, checked; EnvelopeError names what is wrong."""
    match = RUN_ID.match(run_id)
    if match is None:
        raise EnvelopeError("run_id is not of the form 20261127T184500Z-1a2b3c4d")
    if started_at.tzinfo is None:
        raise EnvelopeError("started_at has no time zone")
    now = now or datetime.now(UTC)
    if not EARLIEST <= started_at <= now + MAX_FUTURE:
        raise EnvelopeError(f"started_at {started_at.isoformat()} is not a plausible time")
    if match.group(1) != f"{started_at.astimezone(UTC):%Y%m%dT%H%M%SZ}":
        raise EnvelopeError("run_id and started_at disagree")
    if not node.strip() or len(node) > 256:
        raise EnvelopeError("node is empty or longer than 256 characters")
    if records < 0:
        raise EnvelopeError("records is negative")


def parse_message(body: str) -> Envelope:
    try:
        data = json.loads(body)
        if data.get("v") != 1:
            raise EnvelopeError(f"unsupported message version {data.get('v')!r}")
        run_id, node = str(data["run_id"]), str(data["node"])
        started_at, records = datetime.fromisoformat(data["started_at"]), int(data["records"])
        check_head(run_id, node, started_at, records)
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
                size=_size(data["size"]),
                sha256=_sha256(data["sha256"]),
            )
        raise EnvelopeError(f"unknown message kind {data['kind']!r}")
    except EnvelopeError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EnvelopeError(f"malformed archive message: {type(exc).__name__}") from None


def _size(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise EnvelopeError("size is not a byte count")
    return value


def _sha256(value: object) -> str:
    if not isinstance(value, str) or not SHA256.match(value):
        raise EnvelopeError("sha256 is not 64 lower-case hex digits")
    return value
