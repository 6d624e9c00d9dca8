"""Object keys shared by the archive and the state (S3 or a local directory): one spelling of each."""

from __future__ import annotations

from urllib.parse import quote


def key_prefix(prefix: str) -> str:
    """A key prefix as used everywhere: no leading slash, one trailing slash, '' for the bucket root."""
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def node_segment(node: str) -> str:
    """A node name made safe for an S3 key and a Hive partition value (percent-encoded)."""
    return quote(node, safe="-_.")
