"""Structured logging: JSON lines in Lambda (CloudWatch Logs Insights reads the fields), key=value elsewhere.

Call sites use lazy %-formatting and pass structured fields through ``extra``; the formatter adds
every extra field to the line. Nothing logged here carries a token, a secret or payload content: the
handler's RedactingFilter removes every known credential and credential-like pattern from each line, and
the libraries that would print request or answer bodies are pinned above DEBUG.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

from .redact import RedactingFilter
from .text import printable

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
    """One line per record: the message and every field with their non-printable characters escaped
    (node text: a relation name, an answer's excerpt), so no node forges a line or drives the terminal;
    only a traceback of our own spans lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = f"{self.formatTime(record)} {record.levelname} {record.name}: {printable(record.getMessage())}"
        extra = fields(record)
        if extra:
            text += " | " + " ".join(f"{printable(str(k))}={printable(str(v))}" for k, v in extra.items())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + record.exc_text
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


#: The accepted log levels (case-insensitive on the command line and in EXALATE_LOG_LEVEL).
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def configure(level: str | None = None, *, json_lines: bool = False, stream: TextIO | None = None) -> None:
    """Set up the root logger: JSON lines to stdout (Lambda), else text to stderr (or ``stream``).

    ``level``: one of LEVELS in any case, default INFO (EXALATE_LOG_LEVEL reaches here through Settings)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or (sys.stdout if json_lines else sys.stderr))
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel((level or "INFO").upper())
    pin_library_loggers()


#: Libraries that print requests and answers (bodies, headers, URLs) at DEBUG, whatever the root level:
#: botocore prints a Secrets Manager SecretString and a decrypted SSM value, urllib3 a URL's ?jwt=,
#: the OpenTelemetry SDK a malformed OTLP header in full. At INFO, botocore's "Found credentials in
#: environment variables" and endpoint discovery are noise in every run. The OTLP/HTTP exporters warn
#: at every retry: the run reports an undelivered export once, naming the endpoint and the variable.
QUIET = {
    "botocore": logging.WARNING,
    "boto3": logging.WARNING,
    "s3transfer": logging.WARNING,
    "urllib3": logging.WARNING,
    "requests": logging.WARNING,
    "opentelemetry.util.re": logging.ERROR,
    "opentelemetry.exporter": logging.WARNING,
    "opentelemetry.exporter.otlp.proto.http": logging.ERROR,
}


def pin_library_loggers() -> None:
    """Never let a library logger below its pinned level, even with EXALATE_LOG_LEVEL=DEBUG."""
    for name, level in QUIET.items():
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < level:
            logger.setLevel(level)
