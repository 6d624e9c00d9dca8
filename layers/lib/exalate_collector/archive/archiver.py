"""The archiver's work for one SQS message: verify, write the archive object once, then clean up."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from ..aws import error_code
from ..errors import ArchiveConflict, ArchiveReadFailed, ChecksumMismatch, ConfigError, ReportedFailure
from ..keys import key_prefix
from ..settings import Settings
from .envelope import Envelope, EnvelopeError, parse_message
from .records import archive_key, object_metadata
from .sinks import DEFAULT_PREFIX, DEFAULT_STAGING_PREFIX
from .store import SHA_METADATA, Encryption, put_once

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchiverSettings:
    bucket: str
    prefix: str = DEFAULT_PREFIX
    staging_prefix: str = DEFAULT_STAGING_PREFIX
    encryption: Encryption = field(default_factory=Encryption)

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiverSettings:
        if not settings.archive_bucket:
            raise ConfigError(["ARCHIVE_BUCKET: required by the archiver: the bucket it archives to"])
        return cls(
            bucket=settings.archive_bucket,
            prefix=settings.archive_prefix or DEFAULT_PREFIX,
            staging_prefix=settings.archive_staging_prefix or DEFAULT_STAGING_PREFIX,
            encryption=Encryption(settings.archive_kms_key_id),
        )


def check_claim(settings: ArchiverSettings, envelope: Envelope) -> None:
    staging = key_prefix(settings.staging_prefix)
    if envelope.bucket != settings.bucket or not (envelope.key or "").startswith(staging):
        # Not a checksum problem: the message points where no claim check can be. Never read or delete it.
        raise EnvelopeError(f"claim check outside the staging prefix: s3://{envelope.bucket}/{envelope.key}")


def fetch_claimed(s3: Any, envelope: Envelope) -> bytes:
    """The staging object's bytes, verified against the message's size and SHA-256."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        payload = s3.get_object(Bucket=envelope.bucket, Key=envelope.key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise ArchiveReadFailed(f"s3://{envelope.bucket}/{envelope.key}: {error_code(exc)}") from None
    if len(payload) != envelope.size or hashlib.sha256(payload).hexdigest() != envelope.sha256:
        raise ChecksumMismatch(
            f"s3://{envelope.bucket}/{envelope.key}: {len(payload)} bytes, not the {envelope.size} bytes "
            "and SHA-256 the message carries"
        )
    return payload


def already_archived(s3: Any, bucket: str, key: str, sha256: str | None) -> bool:
    """Whether ``key`` exists with this content (a redelivered message that succeeded before).
    Other content there raises ArchiveConflict; anything unreadable says no (the write will tell)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        existing = s3.head_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError):
        return False
    if existing.get("Metadata", {}).get(SHA_METADATA) != sha256:
        raise ArchiveConflict(f"s3://{bucket}/{key} exists with other content; it is never replaced")
    return True


def archive_message(body: str, s3: Any, settings: ArchiverSettings) -> str:
    """Write the message's records to their archive key; return the key. Raises to leave it for retry.

    A claim check looks at the archive first: if its object already holds the message's bytes (the
    message is a redelivery of one that succeeded), only the staging object is cleaned up.
    """
    envelope = parse_message(body)
    key = archive_key(settings.prefix, envelope.started_at, envelope.node, envelope.run_id)
    if envelope.kind == "claim_check":
        check_claim(settings, envelope)
        if already_archived(s3, settings.bucket, key, envelope.sha256):
            written = False
        else:
            written = _put(s3, settings, key, envelope, fetch_claimed(s3, envelope))
        _clean_up(s3, envelope)
    else:
        assert envelope.payload is not None
        written = _put(s3, settings, key, envelope, envelope.payload)
    log.info(
        "archived run %s node %s: %s (%s)",
        envelope.run_id,
        envelope.node,
        key,
        "written" if written else "already there",
        extra={"run_id": envelope.run_id, "exalate.node": envelope.node, "archive.key": key},
    )
    return key


def _clean_up(s3: Any, envelope: Envelope) -> None:
    """Only now that the archive object exists may the staging object go. If it cannot, the message
    still succeeded: the bucket's expire-staging rule removes it within a day."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3.delete_object(Bucket=envelope.bucket, Key=envelope.key)
    except (ClientError, BotoCoreError) as exc:
        log.warning(
            "staging object s3://%s/%s not deleted (%s); the lifecycle rule will",
            envelope.bucket,
            envelope.key,
            error_code(exc),
            extra={"run_id": envelope.run_id, "exalate.node": envelope.node},
        )


def _put(s3: Any, settings: ArchiverSettings, key: str, envelope: Envelope, payload: bytes) -> bool:
    metadata = object_metadata(envelope.run_id, envelope.records)
    return put_once(s3, settings.bucket, key, payload, metadata, settings.encryption)


#: CloudWatch metric (namespace POWERTOOLS_METRICS_NAMESPACE) counting failed messages by ErrorType.
FAILURE_METRIC = "ArchiveFailures"
DEFAULT_NAMESPACE = "ExalateCollector"


def failure_type(exc: Exception) -> str:
    """The ErrorType of a failed message: the error.type of an ArchiveFailure, malformed_message, or
    internal_error for anything unexpected (a bug)."""
    if isinstance(exc, ReportedFailure):
        return exc.error_type
    if isinstance(exc, EnvelopeError):
        return "malformed_message"
    return "internal_error"


def process(body: str, s3: Any, settings: ArchiverSettings, message_id: str = "") -> str:
    """``archive_message``, with every failure logged (reason and ErrorType) and counted as a CloudWatch
    metric before it is raised again for the batch's partial-failure report."""
    try:
        return archive_message(body, s3, settings)
    except Exception as exc:
        kind = failure_type(exc)
        reason = exc.detail if isinstance(exc, ReportedFailure) else str(exc)
        log.error(
            "archive message %s failed: error.type=%s: %s",
            message_id,
            kind,
            reason if kind != "internal_error" else type(exc).__name__,
            exc_info=kind == "internal_error",
            extra={"message_id": message_id, "error.type": kind},
        )
        publish_failure(kind)
        raise


def publish_failure(kind: str) -> None:
    """CloudWatch metric data points (Embedded Metric Format on stdout, through Powertools): one by
    ErrorType for dashboards, one without dimensions for the ArchiveFailuresAlarm."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE
    for dimensions in ({"ErrorType": kind}, None):
        with single_metric(
            name=FAILURE_METRIC, unit=MetricUnit.Count, value=1, namespace=namespace, default_dimensions=dimensions
        ):
            pass
