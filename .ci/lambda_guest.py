"""One Lambda invocation, as the runtime does it: import the handler from the task root, call it once.

    python -P lambda_guest.py JOB.json

Run by check_lambda.py under the emulated arm64 python3.13 (standard library, layers and runtime boto3
on PYTHONPATH) and natively in the project's virtualenv, with the same job. The job names the handler
(none: only the probe), the event, the context's values and, for the emulated run, the extension modules
to import and the only places modules may come from. The report (JSON) goes to the job's ``report``
path; the function's logs to stdout.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any


class Context:
    """The Lambda context object's fields that handlers and Powertools read."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.function_name: str = values["function_name"]
        self.function_version: str = "$LATEST"
        self.memory_limit_in_mb: int = values["memory_mb"]
        self.invoked_function_arn: str = values["arn"]
        self.aws_request_id: str = values["request_id"]
        self.log_group_name: str = f"/aws/lambda/{self.function_name}"
        self.log_stream_name: str = "2026/11/28/[$LATEST]check-lambda"
        self._deadline = time.monotonic() + values["timeout_s"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def invoke(job: dict[str, Any]) -> dict[str, Any]:
    report: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine()}
    started = time.monotonic()
    report["error"] = None
    if job["handler"]:  # none: only the probe below
        module_name, function = job["handler"].rsplit(".", 1)
        try:
            handler = getattr(importlib.import_module(module_name), function)  # the init phase
            report["init_s"] = round(time.monotonic() - started, 2)
            report["answer"] = handler(job["event"], Context(job["context"]))
        except Exception as error:  # noqa: BLE001 - reported to the check, which fails on it
            report["error"] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        report["invoke_s"] = round(time.monotonic() - started, 2)
    report["extensions"] = probe(job.get("extensions", []))
    report["protobuf"] = protobuf_implementation()
    roots = job.get("module_roots")
    report["foreign_modules"] = foreign_modules(roots) if roots else []
    return report


def probe(modules: list[str]) -> dict[str, str]:
    """Import each extension module: the file it loaded from, or why it failed (a wrong-platform .so is not seen)."""
    found = {}
    for name in modules:
        try:
            found[name] = str(importlib.import_module(name).__file__)
        except ImportError as error:
            found[name] = f"{type(error).__name__}: {error}"
    return found


def protobuf_implementation() -> str:
    try:
        from google.protobuf.internal import api_implementation
    except ImportError as error:
        return f"{type(error).__name__}: {error}"
    return str(api_implementation.Type())


def foreign_modules(roots: list[str]) -> list[str]:
    """Loaded modules whose file lies outside the given roots (the task, the layers, the runtime, the stdlib)."""
    foreign = []
    for name, module in sorted(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if name in {"__main__", "__mp_main__"} or not isinstance(file, str):  # this script; built-in modules
            continue
        if not any(file.startswith(root) for root in roots):
            foreign.append(f"{name}: {file}")
    return foreign


def main() -> int:
    job = json.loads(Path(sys.argv[1]).read_text())
    report = invoke(job)
    Path(job["report"]).write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
