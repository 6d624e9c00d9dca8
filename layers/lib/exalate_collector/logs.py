"""Structured logging: JSON lines in Lambda (CloudWatch Logs Insights reads the fields), key=value elsewhere.

Call sites use lazy %-formatting and pass structured fields through ``extra``; the formatter adds
every extra field to the line. Nothing logged here carries a token, a secret or payload content.
"""

from __future__ import annotations

import json
import logging
import os
import sys

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
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
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
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("EXALATE_LOG_LEVEL", "INFO"))
    logging.getLogger("urllib3").setLevel(logging.WARNING)
