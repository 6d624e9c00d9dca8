"""Import the built collector and archiver handlers with the built library layer (not the checkout).

Run with PYTHONPATH pointing at .aws-sam/build/LibLayer/python: proves the layer carries everything
the handlers load at init (the package, the telemetry contract), and nothing of the test doubles
(the simulator, the OTLP receiver).
The third-party layer is built for arm64/3.13, so its place is taken here by this virtualenv.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

BUILD = Path(".aws-sam/build")


def load(function: str) -> object:
    spec = importlib.util.spec_from_file_location(f"built_{function}", BUILD / function / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    os.environ.update(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "ARCHIVE_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
            "ARCHIVE_BUCKET": "bucket",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_LAMBDA_FUNCTION_NAME": "smoke",
        }
    )
    import exalate_collector

    origin = Path(exalate_collector.__file__).resolve()
    if BUILD.resolve() not in origin.parents:
        print(f"the library came from {origin}, not from the built layer", file=sys.stderr)
        return 1
    doubles = [name for name in ("simulator", "devtools") if (origin.parent / name).exists()]
    if doubles:
        print(f"the built library layer carries test doubles: {', '.join(doubles)}", file=sys.stderr)
        return 1
    collector, archiver = load("CollectorFunction"), load("ArchiverFunction")
    assert callable(collector.handler) and callable(archiver.handler)  # type: ignore[attr-defined]
    print(f"built handlers import with the built library layer ({origin.parent})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
