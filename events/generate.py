"""Regenerate the sample SQS events for the archiver from the seed's examples (deterministic).

    .venv/bin/python events/generate.py

A test checks that the committed files equal what this produces, so they never drift from the code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from exalate_collector.archive.envelope import claim_message, inline_message
from exalate_collector.archive.records import encode_jsonl_gz, record_of, staging_key
from exalate_collector.endpoints import ENDPOINTS, relation_path
from exalate_collector.model import Exchange
from exalate_collector.simulator import seed_body

HERE = Path(__file__).parent
RUN_ID = "20261127T184500Z-0a1b2c3d"
STARTED = datetime(2026, 11, 27, 18, 45, tzinfo=UTC)
BUCKET = "exalate-collector-archive-example"
NODE = "jira-prod"


def seed_records() -> list[dict]:
    base = "https://jira.example.com/jira"
    return [
        record_of(
            RUN_ID,
            Exchange(
                node=NODE,
                relation="AllContent",
                endpoint=e,
                url=base + relation_path("AllContent", e),
                started_at=STARTED,
                elapsed_s=0.042,
                status_code=200,
                content_type="application/json;charset=UTF-8",
                date="Fri, 27 Nov 2026 18:45:00 GMT",
                content_length=str(len(seed_body(e))),
                body=seed_body(e),
                sent=True,
            ),
        )
        for e in ENDPOINTS
    ]


def sqs_event(message_id: str, body: str) -> dict:
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": "AQEB-example-receipt-handle",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795805100000",
                    "SenderId": "AROAEXAMPLE:exalate-collector",
                    "ApproximateFirstReceiveTimestamp": "1795805100100",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:exalate-collector-archive",
                "awsRegion": "eu-west-1",
            }
        ]
    }


def main() -> None:
    records = seed_records()
    payload = encode_jsonl_gz(records)
    inline = inline_message(RUN_ID, NODE, STARTED, len(records), payload)
    key = staging_key("staging/", RUN_ID, NODE)
    claim = claim_message(RUN_ID, NODE, STARTED, len(records), BUCKET, key, payload)
    (HERE / "sqs-inline.json").write_text(
        json.dumps(sqs_event("11111111-1111-4111-8111-111111111111", inline), indent=2) + "\n"
    )
    (HERE / "sqs-claim-check.json").write_text(
        json.dumps(sqs_event("22222222-2222-4222-8222-222222222222", claim), indent=2) + "\n"
    )
    (HERE / "staging-object.jsonl.gz").write_bytes(payload)


if __name__ == "__main__":
    main()
