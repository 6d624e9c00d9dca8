"""The process's settings from the environment: every variable of ours read and validated once, at start.

``Settings.from_environment`` is the only place that reads them; the CLI (in ``main``) and each Lambda
handler (at init) build one and pass it to what needs it. A bad value is a ``ConfigError`` naming the
variable, with every problem listed at once (the CLI exits 2; a Lambda fails its init with the
message). Unset variables are ``None`` here; each default is written once, by its user (the archive
and state stores, the run budget).

Not read here: the OpenTelemetry SDK's ``OTEL_*`` variables (the SDK reads them; telemetry/otlp_settings.py
checks the protocol and the endpoint URLs where the exporters are built), the AWS SDK's ``AWS_*``, the
Lambda runtime's ``AWS_LAMBDA_*`` resource facts, and ``${VAR}`` credential references of the
configuration (secret_refs.py; the CLI checks them before any request).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

from .budget import DEADLINE_MARGIN_VAR, DEFAULT_DEADLINE_MARGIN_S, DEPRECATED_MARGIN_VAR
from .errors import ConfigError
from .logs import LEVELS

MAX_REQUEST_VAR = "EXALATE_OTLP_MAX_REQUEST_KB"
DEFAULT_REQUEST_KB = 4096  # 4 MiB: far below backends' limits (OpenTelemetry Collector 20 MiB, VictoriaMetrics 64 MB)
MIN_REQUEST_KB, MAX_REQUEST_KB = 16, 65536

#: Every variable, with what it is for (the README's table of variables says the same).
VARIABLES: dict[str, str] = {
    "EXALATE_COLLECTOR_CONFIG": "the configuration: a file path, or ssm:<parameter name>",
    "EXALATE_LOG_LEVEL": f"{', '.join(LEVELS)} in any case (default INFO)",
    DEADLINE_MARGIN_VAR: f"Lambda: seconds kept between the run's end and the function's timeout "
    f"(default {DEFAULT_DEADLINE_MARGIN_S:g})",
    DEPRECATED_MARGIN_VAR: f"the former name of {DEADLINE_MARGIN_VAR}, still read",
    "ARCHIVE_DIR": "outside AWS: the local archive directory (default ./exalate-archive)",
    "ARCHIVE_BUCKET": "the archive's S3 bucket (the archiver's, and the CLI's when set)",
    "ARCHIVE_PREFIX": "key prefix of archive objects (default exalate/)",
    "ARCHIVE_STAGING_PREFIX": "key prefix of claim-check objects (default staging/)",
    "ARCHIVE_QUEUE_URL": "Lambda: the SQS queue the collector hands its answers to",
    "ARCHIVE_KMS_KEY_ID": "SSE-KMS key of archive objects (default SSE-S3)",
    "STATE_DIR": "outside AWS: where runs remember what they saw (default ./exalate-state)",
    "STATE_BUCKET": "the state's S3 bucket (default ARCHIVE_BUCKET)",
    "STATE_PREFIX": "key prefix of state objects (default state/)",
    "OTEL_EXPORTER_OTLP_HEADERS_SECRET": "Lambda: a secret reference whose value becomes OTEL_EXPORTER_OTLP_HEADERS",
    MAX_REQUEST_VAR: f"the largest OTLP request in KiB before compression, {MIN_REQUEST_KB} to {MAX_REQUEST_KB} "
    f"(default {DEFAULT_REQUEST_KB}); larger exports are split",
}

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class Settings:
    config_ref: str | None = None
    log_level: str | None = None
    deadline_margin_s: float = DEFAULT_DEADLINE_MARGIN_S
    archive_dir: str | None = None
    archive_bucket: str | None = None
    archive_prefix: str | None = None
    archive_staging_prefix: str | None = None
    archive_queue_url: str | None = None
    archive_kms_key_id: str | None = None
    state_dir: str | None = None
    state_bucket: str | None = None
    state_prefix: str | None = None
    otlp_headers_secret: str | None = None
    otlp_max_request_kb: int = DEFAULT_REQUEST_KB

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate every variable; raise one ConfigError listing each bad one by name."""
        problems: list[str] = []

        def text(var: str) -> str | None:
            value = (env.get(var) or "").strip()
            return value or None  # unset and empty mean the same: the default

        def prefix(var: str) -> str | None:
            value = text(var)
            if value is not None and (value.startswith("/") or "//" in value or ".." in value.split("/")):
                problems.append(f"{var}: {value!r} is not a key prefix such as exalate/ (no leading /, no // or ..)")
            return value

        def bucket(var: str) -> str | None:
            value = text(var)
            if value is not None and not _BUCKET.match(value):
                problems.append(f"{var}: {value!r} is not an S3 bucket name (3 to 63 of a-z, 0-9, . and -)")
            return value

        level = text("EXALATE_LOG_LEVEL")
        if level is not None and level.upper() not in LEVELS:
            problems.append(f"EXALATE_LOG_LEVEL: {level!r} is not one of {', '.join(LEVELS)} (any case)")
            level = None

        margin_var = DEADLINE_MARGIN_VAR if text(DEADLINE_MARGIN_VAR) else DEPRECATED_MARGIN_VAR
        margin = DEFAULT_DEADLINE_MARGIN_S
        raw_margin = text(margin_var)
        if raw_margin is not None:
            try:
                margin = float(raw_margin)
            except ValueError:
                margin = math.nan
            if not math.isfinite(margin) or not 0 <= margin <= 900:
                problems.append(f"{margin_var}: {raw_margin!r} is not a number of seconds from 0 to 900")
                margin = DEFAULT_DEADLINE_MARGIN_S

        queue_url = text("ARCHIVE_QUEUE_URL")
        if queue_url is not None:
            try:
                parts = urlsplit(queue_url)
                valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            except ValueError:  # "http://[::1": a malformed URL names its key, never a traceback
                valid = False
            if not valid:
                problems.append("ARCHIVE_QUEUE_URL: must be the queue's URL, https://sqs.<region>.amazonaws.com/...")

        request_kb = DEFAULT_REQUEST_KB
        raw_request = text(MAX_REQUEST_VAR)
        if raw_request is not None:
            if not raw_request.isdigit() or not MIN_REQUEST_KB <= int(raw_request) <= MAX_REQUEST_KB:
                problems.append(
                    f"{MAX_REQUEST_VAR}: {raw_request!r} is not a whole number of KiB from {MIN_REQUEST_KB} to"
                    f" {MAX_REQUEST_KB}"
                )
            else:
                request_kb = int(raw_request)

        settings = cls(
            config_ref=text("EXALATE_COLLECTOR_CONFIG"),
            log_level=level.upper() if level else None,
            deadline_margin_s=margin,
            archive_dir=text("ARCHIVE_DIR"),
            archive_bucket=bucket("ARCHIVE_BUCKET"),
            archive_prefix=prefix("ARCHIVE_PREFIX"),
            archive_staging_prefix=prefix("ARCHIVE_STAGING_PREFIX"),
            archive_queue_url=queue_url,
            archive_kms_key_id=text("ARCHIVE_KMS_KEY_ID"),
            state_dir=text("STATE_DIR"),
            state_bucket=bucket("STATE_BUCKET"),
            state_prefix=prefix("STATE_PREFIX"),
            otlp_headers_secret=text("OTEL_EXPORTER_OTLP_HEADERS_SECRET"),
            otlp_max_request_kb=request_kb,
        )
        if problems:
            raise ConfigError(problems)
        return settings

    @property
    def otlp_max_request_bytes(self) -> int:
        return self.otlp_max_request_kb * 1024

    def __repr__(self) -> str:  # only names and set/unset: a value could be sensitive (queue URL, key ARN)
        defaults = (None, DEFAULT_DEADLINE_MARGIN_S, DEFAULT_REQUEST_KB)
        set_ = [f.name for f in fields(self) if getattr(self, f.name) not in defaults]
        return f"Settings(set={set_})"
