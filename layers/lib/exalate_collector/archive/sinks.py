"""Where a run's records go: a local directory, S3 directly, or the archiver's queue (with claim check).

Every sink takes one node's records of one run at a time, by the ``Deadline`` of the run's archive phase,
and raises an ArchiveFailure subclass when it cannot take them; the runner reports that (metric, event,
log) and the caller fails the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ..aws import ClientSource, LazyClient, error_code
from ..deadline import Deadline
from ..errors import HandoffFailed, StagingFailed
from ..settings import Settings
from .envelope import claim_message, inline_fits, inline_message
from .records import Payload, archive_key, object_metadata, staging_key
from .store import Encryption, put_once, write_local_once

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "exalate/"
DEFAULT_STAGING_PREFIX = "staging/"
DEFAULT_LOCAL_DIR = "exalate-archive"


@dataclass(frozen=True)
class NodeBatch:
    """One node's records of one run, already encoded (gzip JSON Lines)."""

    run_id: str
    node: str
    started_at: datetime
    records: int
    payload: Payload

    def metadata(self) -> dict[str, str]:
        return object_metadata(self.run_id, self.records)


class ArchiveSink(Protocol):
    def deliver(self, batch: NodeBatch, deadline: Deadline) -> str:
        """Store or hand off the batch by ``deadline``; return where it went. Raises ArchiveFailure."""
        ...


class LocalDirectorySink:
    """A local directory: deadlines are taken and not applied (a local disk answers or fails)."""

    def __init__(self, root: Path, prefix: str = DEFAULT_PREFIX) -> None:
        self.root = root
        self.prefix = prefix

    def deliver(self, batch: NodeBatch, deadline: Deadline) -> str:
        key = archive_key(self.prefix, batch.started_at, batch.node, batch.run_id)
        write_local_once(self.root, key, batch.payload)
        return str(self.root / key)


class S3DirectSink:
    """Outside AWS with ARCHIVE_BUCKET set: straight to the archive key, conditional write."""

    def __init__(
        self, s3: ClientSource, bucket: str, prefix: str = DEFAULT_PREFIX, encryption: Encryption | None = None
    ) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self.encryption = encryption or Encryption()

    def deliver(self, batch: NodeBatch, deadline: Deadline) -> str:
        key = archive_key(self.prefix, batch.started_at, batch.node, batch.run_id)
        put_once(self.s3(deadline), self.bucket, key, batch.payload, batch.metadata(), self.encryption)
        return f"s3://{self.bucket}/{key}"


class QueueSink:
    """In Lambda: one SQS message per node per run; too large for SQS -> staging object + claim check.
    ``sqs`` and ``s3``: clients per operation, bounded by its deadline (``aws.LazyClient``)."""

    def __init__(
        self,
        sqs: ClientSource,
        queue_url: str,
        s3: ClientSource | None,
        bucket: str | None,
        staging_prefix: str = DEFAULT_STAGING_PREFIX,
        encryption: Encryption | None = None,
    ) -> None:
        self.sqs, self.queue_url, self.s3, self.bucket = sqs, queue_url, s3, bucket
        self.staging_prefix = staging_prefix
        self.encryption = encryption or Encryption()

    def deliver(self, batch: NodeBatch, deadline: Deadline) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        if inline_fits(batch.payload.size):
            payload = batch.payload.read()
            message = inline_message(batch.run_id, batch.node, batch.started_at, batch.records, payload)
            where = "inline"
        else:
            if not self.bucket or self.s3 is None:
                raise StagingFailed("the records exceed an SQS message and ARCHIVE_BUCKET is not set")
            key = staging_key(self.staging_prefix, batch.run_id, batch.node)
            try:
                self.s3(deadline).put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=batch.payload.stream(),
                    Metadata=batch.metadata(),
                    **self.encryption.put_arguments(),
                )
            except (ClientError, BotoCoreError) as exc:
                raise StagingFailed(f"s3://{self.bucket}/{key}: {error_code(exc)}") from None
            message = claim_message(
                batch.run_id, batch.node, batch.started_at, batch.records, self.bucket, key, batch.payload
            )
            where = f"claim check s3://{self.bucket}/{key}"
        try:
            self.sqs(deadline).send_message(QueueUrl=self.queue_url, MessageBody=message)
        except (ClientError, BotoCoreError) as exc:
            raise HandoffFailed(f"{self.queue_url}: {error_code(exc)}") from None
        return where


def sink_for(settings: Settings, *, in_lambda: bool, local_dir: str | None = None) -> ArchiveSink | None:
    """Lambda: the queue (ARCHIVE_QUEUE_URL). Elsewhere: S3 when ARCHIVE_BUCKET is set, else a local directory."""
    prefix = settings.archive_prefix or DEFAULT_PREFIX
    encryption = Encryption(settings.archive_kms_key_id)
    bucket = settings.archive_bucket
    if in_lambda:
        if not settings.archive_queue_url:
            log.warning("ARCHIVE_QUEUE_URL is not set: this run's answers are not archived")
            return None
        staging = settings.archive_staging_prefix or DEFAULT_STAGING_PREFIX
        return QueueSink(
            LazyClient("sqs"),
            settings.archive_queue_url,
            LazyClient("s3") if bucket else None,
            bucket,
            staging,
            encryption,
        )
    if bucket:
        return S3DirectSink(LazyClient("s3"), bucket, prefix, encryption)
    return LocalDirectorySink(Path(local_dir or settings.archive_dir or DEFAULT_LOCAL_DIR), prefix)
