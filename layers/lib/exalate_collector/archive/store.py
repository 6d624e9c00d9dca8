"""The I/O edge towards S3 and the local disk: conditional, never-overwriting archive writes."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..aws import error_code
from ..errors import ArchiveConflict, ArchiveWriteFailed
from .records import Payload, as_payload

log = logging.getLogger(__name__)

SHA_METADATA = "content-sha256"


@dataclass(frozen=True)
class Encryption:
    """SSE-S3 by default; SSE-KMS with a key when ``kms_key_id`` is set."""

    kms_key_id: str | None = None

    def put_arguments(self) -> dict[str, str]:
        if self.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        return {"ServerSideEncryption": "AES256"}


def put_once(
    s3: Any, bucket: str, key: str, payload: bytes | Payload, metadata: Mapping[str, str], encryption: Encryption
) -> bool:
    """Create ``key`` with ``payload`` unless it exists. True if written, False if the same bytes were there.

    ``If-None-Match: *`` makes S3 refuse (412) to replace an object; a 412 whose object carries the same
    SHA-256 means an earlier delivery already wrote it. Different content raises ArchiveConflict.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    payload = as_payload(payload)
    digest = payload.sha256
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=payload.stream(),  # read from its temporary file when large
            IfNoneMatch="*",
            ContentType="application/x-ndjson",
            ContentEncoding="gzip",
            Metadata={**metadata, SHA_METADATA: digest},
            **encryption.put_arguments(),
        )
        return True
    except ClientError as exc:
        if error_code(exc) not in ("PreconditionFailed", "412"):
            raise ArchiveWriteFailed(f"s3://{bucket}/{key}: {error_code(exc)}") from None
    except BotoCoreError as exc:
        raise ArchiveWriteFailed(f"s3://{bucket}/{key}: {type(exc).__name__}") from None
    try:
        existing = s3.head_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise ArchiveWriteFailed(f"s3://{bucket}/{key}: exists, cannot be read back: {error_code(exc)}") from None
    if existing.get("Metadata", {}).get(SHA_METADATA) != digest:
        raise ArchiveConflict(f"s3://{bucket}/{key} exists with other content; it is never replaced")
    log.info("archive object already written by an earlier delivery: %s", key, extra={"archive.key": key})
    return False


def write_local_once(root: Path, key: str, payload: bytes | Payload) -> bool:
    """The local-directory twin of ``put_once``: exclusive create, same-content rewrite is a no-op."""
    path = root / key
    payload = as_payload(payload)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as handle:
            shutil.copyfileobj(payload.stream(), handle)
            handle.flush()
            os.fsync(handle.fileno())
        return True
    except FileExistsError:
        if _file_sha256(path) == payload.sha256:
            return False
        raise ArchiveConflict(f"{path} exists with other content; it is never replaced") from None
    except OSError as exc:
        raise ArchiveWriteFailed(f"{path}: {exc.strerror or type(exc).__name__}") from None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
