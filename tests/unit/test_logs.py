"""Structured log lines: lazy %-formatting, every ``extra`` field carried, nothing else added."""

from __future__ import annotations

import json
import logging

from exalate_collector.logs import JsonFormatter, TextFormatter


def record() -> logging.LogRecord:
    logger = logging.getLogger("exalate_collector.test")
    return logger.makeRecord(
        logger.name,
        logging.WARNING,
        __file__,
        1,
        "poll failed: node=%s error.type=%s",
        ("jira", "timeout"),
        None,
        extra={"exalate.node": "jira", "error.type": "timeout", "http.response.status_code": None},
    )


def test_json_lines_carry_the_structured_fields():
    line = json.loads(JsonFormatter().format(record()))
    assert line == {
        "level": "WARNING",
        "logger": "exalate_collector.test",
        "message": "poll failed: node=jira error.type=timeout",
        "exalate.node": "jira",
        "error.type": "timeout",
        "http.response.status_code": None,
    }


def test_text_lines_append_the_fields():
    text = TextFormatter().format(record())
    assert text.endswith(
        "poll failed: node=jira error.type=timeout | exalate.node=jira error.type=timeout "
        "http.response.status_code=None"
    )


def test_the_aws_libraries_info_chatter_is_off_and_ours_is_on():
    import io

    from exalate_collector import logs

    stream = io.StringIO()
    try:
        logs.configure("info", json_lines=True, stream=stream)
        logging.getLogger("botocore.credentials").info("Found credentials in environment variables.")
        logging.getLogger("boto3.resources").info("chatter")
        logging.getLogger("exalate_collector.runner").info("run 1: 12 polls")
        logging.getLogger("botocore.endpoint").warning("a real problem")
    finally:
        logs.configure()
    lines = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    assert lines == ["run 1: 12 polls", "a real problem"]
