"""Structured logging: JSON lines in Lambda (CloudWatch Logs Insights reads the fields), key=value elsewhere.

Call sites use lazy %-formatting and pass structured fields through ``extra``; the formatter adds
every extra field to the line. Nothing logged here carries a token, a secret or payload content: the
handler's RedactingFilter removes every known credential and credential-like pattern from each line, and
the libraries that would print request or answer bodies are pinned above DEBUG.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from .redact import RedactingFilter

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def fields(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **fields(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = fields(record)
        if extra:
            text += " | " + " ".join(f"{k}={v}" for k, v in extra.items())
        return text


def configure(level: str | None = None, *, json_lines: bool | None = None) -> None:
    """Set up the root logger once: JSON in Lambda (or when asked), text otherwise; to stderr."""
    if json_lines is None:
        json_lines = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr if not json_lines else sys.stdout)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("EXALATE_LOG_LEVEL", "INFO"))
    pin_library_loggers()


#: Libraries that print requests and answers (bodies, headers, URLs) at DEBUG, whatever the root level:
#: botocore prints a Secrets Manager SecretString and a decrypted SSM value, urllib3 a URL's ?jwt=,
#: the OpenTelemetry SDK a malformed OTLP header in full.
QUIET = {
    "botocore": logging.WARNING,
    "boto3": logging.WARNING,
    "s3transfer": logging.WARNING,
    "urllib3": logging.WARNING,
    "requests": logging.WARNING,
    "opentelemetry.util.re": logging.ERROR,
    "opentelemetry.exporter": logging.WARNING,
}


def pin_library_loggers() -> None:
    """Never let a library logger below its pinned level, even with EXALATE_LOG_LEVEL=DEBUG."""
    for name, level in QUIET.items():
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < level:
            logger.setLevel(level)
