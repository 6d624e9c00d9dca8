"""The archiver's work for one SQS message: verify, write the archive object once, then clean up."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ArchiveWriteFailed, ChecksumMismatch
from .envelope import Envelope, EnvelopeError, parse_message
from .records import archive_key, key_prefix, object_metadata
from .sinks import DEFAULT_PREFIX, DEFAULT_STAGING_PREFIX
from .store import Encryption, error_code, put_once

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchiverSettings:
    bucket: str
    prefix: str = DEFAULT_PREFIX
    staging_prefix: str = DEFAULT_STAGING_PREFIX
    encryption: Encryption = field(default_factory=Encryption)

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> ArchiverSettings:
        return cls(
            bucket=env["ARCHIVE_BUCKET"],
            prefix=env.get("ARCHIVE_PREFIX") or DEFAULT_PREFIX,
            staging_prefix=env.get("ARCHIVE_STAGING_PREFIX") or DEFAULT_STAGING_PREFIX,
            encryption=Encryption.from_environment(env),
        )


def fetch_claimed(s3: Any, settings: ArchiverSettings, envelope: Envelope) -> bytes:
    """The staging object's bytes, verified against the message's size and SHA-256."""
    from botocore.exceptions import BotoCoreError, ClientError

    staging = key_prefix(settings.staging_prefix)
    if envelope.bucket != settings.bucket or not (envelope.key or "").startswith(staging):
        # Not a checksum problem: the message points where no claim check can be. Never read or delete it.
        raise EnvelopeError(f"claim check outside the staging prefix: s3://{envelope.bucket}/{envelope.key}")
    try:
        payload = s3.get_object(Bucket=envelope.bucket, Key=envelope.key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise ArchiveWriteFailed(f"s3://{envelope.bucket}/{envelope.key}: {error_code(exc)}") from None
    if len(payload) != envelope.size or hashlib.sha256(payload).hexdigest() != envelope.sha256:
        raise ChecksumMismatch(
            f"s3://{envelope.bucket}/{envelope.key}: {len(payload)} bytes, not the {envelope.size} bytes "
            "and SHA-256 the message carries"
        )
    return payload


def archive_message(body: str, s3: Any, settings: ArchiverSettings) -> str:
    """Write the message's records to their archive key; return the key. Raises to leave it for retry."""
    envelope = parse_message(body)
    payload = envelope.payload if envelope.kind == "inline" else fetch_claimed(s3, settings, envelope)
    assert payload is not None
    key = archive_key(settings.prefix, envelope.started_at, envelope.node, envelope.run_id)
    metadata = object_metadata(envelope.run_id, envelope.records)
    written = put_once(s3, settings.bucket, key, payload, metadata, settings.encryption)
    if envelope.kind == "claim_check":
        # Only now that the archive object exists may the staging object go.
        s3.delete_object(Bucket=envelope.bucket, Key=envelope.key)
    log.info(
        "archived run %s node %s: %s (%s)",
        envelope.run_id,
        envelope.node,
        key,
        "written" if written else "already there",
        extra={"run_id": envelope.run_id, "exalate.node": envelope.node, "archive.key": key},
    )
    return key
