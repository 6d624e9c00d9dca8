"""make check-lambda: the built artifact (.aws-sam/build) on its target, arm64 and Python 3.13, under emulation.

1. The platform (lambda_platform.py): qemu-aarch64 and Debian 13's arm64 python3.13 in a cached sysroot;
   the layers go to its /opt as Lambda extracts them, each function's code to /var/task, boto3 to /var/runtime.
2. The native modules (lambda_artifact.py): every shared object in the layers is AArch64, every extension
   module tagged cpython-313-aarch64 or abi3.
3. Both handlers, each invoked once in a process of its own (lambda_guest.py) with the built template's
   environment: the collector with events/scheduler.json against the simulator (configuration in SSM, JWT
   secret and OTLP headers in Secrets Manager, SQS hand-off and S3 state in moto's server, OTLP to the test
   receiver), then the archiver on the SQS message it sent (events/sqs-inline.json's shape). The same jobs
   run natively in this virtualenv; both runs must give the same polls, failures, points, events, metric
   names, archive keys. The emulated run must also import every extension module from the layer, use
   protobuf's upb implementation, and load no module from outside the task, the layers, the runtime's boto3
   and the standard library.

The simulator, the OTLP receiver and moto run natively from this virtualenv (not from the layer).
Run with the project's virtualenv python from the repository root, after `sam build`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import lambda_platform
import yaml
from exalate_collector.devtools.otlp_receiver import OtlpReceiver
from exalate_collector.simulator import NodeSimulator
from lambda_artifact import BuiltFunction, extension_modules, native_module_problems
from lambda_platform import Platform

ROOT = Path(__file__).resolve().parents[1]
GUEST = Path(__file__).with_name("lambda_guest.py")
REGION = "eu-west-1"
STACK = "exalate-collector"
NODE = "jira-check"
RELATIONS = ["AllContent", "GROOVY"]
JWT_SECRET = "check-lambda-jwt-secret-of-at-least-32-bytes"
OTLP_HEADER = ("x-check-lambda", "from-secrets-manager")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
#: What the runtime puts on sys.path before the standard library (Lambda's layout for Python).
GUEST_PATH = ["/var/task", "/opt/python/lib/python3.13/site-packages", "/opt/python", "/var/runtime"]
TARGET = ("python3.13", "arm64")
DEPS_LAYER = "DepsLayer"  # the third-party layer, built by layers/deps/Makefile
X86_64 = "manylinux2014_x86_64"


@dataclass
class Services:
    moto: str
    simulator: NodeSimulator
    receiver: OtlpReceiver
    parameters: dict[str, str]  # template parameters the check sets (the rest keep their defaults)


@dataclass
class Invocation:
    report: dict[str, Any]
    log: Path
    extensions: list[tuple[str, str]]  # (module, the file it must load from); emulated runs only


class Check:
    """One run of the check; every problem found is collected, and any fails it."""

    services: Services  # set while the servers run

    def __init__(self, build: Path, work: Path) -> None:
        self.build, self.work = build, work
        self.template = yaml.safe_load((build / "template.yaml").read_text())
        self.problems: list[str] = []

    # -- the platform and the layers -------------------------------------------------------------
    def lay_out(self, platform: Platform, layers: tuple[Path, ...]) -> list[tuple[str, str]]:
        """Extract the layers into /opt in Lambda's order; the extension modules and the file each must load from."""
        opt = platform.path("/opt")
        shutil.rmtree(opt, ignore_errors=True)
        for layer in layers:  # later layers overwrite earlier ones; modification times kept for the bytecode cache
            shutil.copytree(layer, opt, dirs_exist_ok=True)
        expected = []
        for root in (opt / "python/lib/python3.13/site-packages", opt / "python"):
            if root.is_dir():
                expected += [
                    (name, "/" + str(path.relative_to(platform.sysroot))) for name, path in extension_modules(root)
                ]
        return expected

    def check_native_modules(self, layers: tuple[Path, ...]) -> None:
        for layer in layers:
            for problem in native_module_problems(layer):
                if f"{layer.name}: {problem}" not in self.problems:  # each layer serves both functions
                    self.problems.append(f"{layer.name}: {problem}")

    def check_target(self, f: BuiltFunction) -> None:
        if (f.runtime, *f.architectures) != TARGET:
            self.problems.append(f"{f.name} is {f.runtime} on {f.architectures}; this check emulates {TARGET}")

    # -- invocations -----------------------------------------------------------------------------
    def invoke(
        self,
        mode: str,
        platform: Platform,
        function: BuiltFunction,
        event: Any,
        layers: tuple[Path, ...] | None = None,
        label: str = "",
    ) -> Invocation:
        """One invocation in a process of its own: a cold start, as each function's first on Lambda.

        With no event the handler is only imported and the extension modules probed; ``layers`` replace
        the function's own (the negative control)."""
        name = f"{mode}-{function.name}{label}"
        report, log, job = (self.work / f"{name}{suffix}" for suffix in (".json", ".log", ".job.json"))
        report.unlink(missing_ok=True)
        env = self.lambda_environment(function)
        extensions: list[tuple[str, str]] = []
        checks: dict[str, Any] = {}
        if mode == "arm64":
            extensions = self.lay_out(platform, layers or function.layers)
            task = platform.path("/var/task")
            shutil.rmtree(task, ignore_errors=True)
            shutil.copytree(function.code, task)
            stdlib = str(platform.path("/usr/lib/python3.13"))
            checks = {
                "extensions": [module for module, _ in extensions],
                "module_roots": [*(p + "/" for p in GUEST_PATH), stdlib + "/"],
            }
            env |= {"PYTHONPATH": ":".join(GUEST_PATH), "PYTHONPYCACHEPREFIX": str(self.work / "pycache")}
            command = platform.python("-P", str(GUEST), str(job))
        else:
            code = str(function.code)
            env |= {"PYTHONPATH": code, "LAMBDA_TASK_ROOT": code}
            command = [sys.executable, "-P", str(GUEST), str(job)]
        context = {
            "function_name": function.function_name,
            "memory_mb": function.memory_mb,
            "timeout_s": function.timeout_s,
            "arn": f"arn:aws:lambda:{REGION}:123456789012:function:{function.function_name}",
            "request_id": str(uuid.uuid4()),
        }
        handler = function.handler if event is not None else None
        spec = {"handler": handler, "event": event, "context": context, "report": str(report), **checks}
        job.write_text(json.dumps(spec))
        with log.open("w") as out:  # the function's own log lines
            subprocess.run(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=function.timeout_s + 300, check=False
            )
        if not report.exists():
            return Invocation({"error": f"no report: the process died (see {log})"}, log, extensions)
        return Invocation(json.loads(report.read_text()), log, extensions)

    def lambda_environment(self, function: BuiltFunction) -> dict[str, str]:
        """The function's variables from the template, and those the Lambda runtime sets."""
        home = self.work / "home"  # no ~/.aws of the machine's user
        home.mkdir(exist_ok=True)
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/28/[$LATEST]check-lambda",
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "AWS_ENDPOINT_URL": self.services.moto,  # moto's server stands in for AWS
            **CREDENTIALS,
            **function.environment,
        }

    # -- one run of both functions -----------------------------------------------------------------
    def run(self, mode: str, platform: Platform) -> dict[str, Any]:
        """The collector, then the archiver on its message; what they did, comparable across runs."""
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        bucket = f"check-{mode}-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        queue = sqs.create_queue(QueueName=f"check-{mode}-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        resources = {"ArchiveBucket": bucket, "ArchiveQueue": queue}
        collector, archiver = (
            BuiltFunction.from_template(self.build, self.template, name, self.services.parameters, resources)
            for name in ("CollectorFunction", "ArchiverFunction")
        )
        if mode == "arm64":
            for function in (collector, archiver):
                self.check_target(function)
                self.check_native_modules(function.layers)
        self.services.receiver.clear()
        self.services.simulator.seen.clear()
        scheduled = json.loads((ROOT / "events" / "scheduler.json").read_text())
        first = self.invoke(mode, platform, collector, scheduled)
        messages = drain(sqs, queue)
        second = self.invoke(mode, platform, archiver, sqs_event(sqs, queue, messages))
        summary = self.summary(first, second, len(messages), s3, bucket)
        if mode == "arm64":
            self.check_emulated(first)
            self.check_emulated(second)
            self.negative_control(platform, archiver)  # the archiver: its import sends no telemetry
        return summary

    def negative_control(self, platform: Platform, function: BuiltFunction) -> None:
        """The deps layer built for x86_64 by its own Makefile must be refused, and fall back under emulation."""
        (deps,) = (layer for layer in function.layers if layer.name == DEPS_LAYER)
        source = ROOT / "layers" / "deps"
        wrong = self.work / "x86_64" / DEPS_LAYER
        stamp = wrong / ".inputs"
        inputs = "".join((source / name).read_text() for name in ("Makefile", "requirements.txt"))
        if not (stamp.exists() and stamp.read_text() == inputs):
            shutil.rmtree(wrong, ignore_errors=True)
            wrong.mkdir(parents=True)
            make = ["make", "-C", str(source), "build-DepsLayer", f"ARTIFACTS_DIR={wrong}", f"WHEEL_PLATFORM={X86_64}"]
            lambda_platform.run(make, self.work / "setup.log")
            stamp.write_text(inputs)
        refused = native_module_problems(wrong)
        layers = tuple(wrong if layer == deps else layer for layer in function.layers)
        probe = self.invoke("arm64", platform, function, None, layers=layers, label="-x86_64-deps")
        fell_back = [name for name, path in probe.extensions if probe.report["extensions"].get(name) != path]
        protobuf = probe.report.get("protobuf")
        if not refused or protobuf == "upb" or not fell_back:
            self.problems.append(
                f"negative control: a deps layer built for x86_64 was not caught ({len(refused)} shared objects "
                f"refused, protobuf {protobuf}, {len(fell_back)} extension modules not loaded; see {probe.log})"
            )
        else:
            print(
                f"negative control: the deps layer built for x86_64 is refused ({len(refused)} shared objects not "
                f"AArch64); under emulation protobuf falls back to {protobuf} and {len(fell_back)} of "
                f"{len(probe.extensions)} extension modules do not load"
            )

    def summary(self, first: Invocation, second: Invocation, messages: int, s3: Any, bucket: str) -> dict[str, Any]:
        for invocation in (first, second):
            if invocation.report["error"]:
                self.problems.append(f"{invocation.log.stem}: {invocation.report['error']} (see {invocation.log})")
        answer = first.report.get("answer") or {}
        run_id = str(answer.get("run_id", "?"))
        receiver, simulator = self.services.receiver, self.services.simulator
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        header, value = OTLP_HEADER
        return {
            "collector answer": {k: answer.get(k) for k in ("polls", "failed", "points", "events", "archived")},
            "requests to the node": sorted(
                Counter(f"{r.method} authenticated={r.authenticated}" for r in simulator.seen).items()
            ),
            "metric names": sorted({p.name for p in receiver.points()}),
            "points received": len(receiver.points()),
            "events received": sorted(Counter(e.event_name for e in receiver.events()).items()),
            "OTLP headers from the secret": all(h.get(header) == value for h in receiver.received.headers_seen),
            "messages handed off": messages,
            "archiver answer": second.report.get("answer"),
            "bucket keys": sorted(normalise(key, run_id) for key in keys),
        }

    def check_emulated(self, invocation: Invocation) -> None:
        report, where = invocation.report, invocation.log.stem
        if (report.get("machine"), report.get("python", "")[:4]) != ("aarch64", "3.13"):
            self.problems.append(f"{where}: ran on {report.get('machine')} Python {report.get('python')}")
        if report.get("protobuf") != "upb":
            self.problems.append(f"{where}: protobuf's implementation is {report.get('protobuf')}, not upb")
        loaded = report.get("extensions", {})
        for name, path in invocation.extensions:
            if loaded.get(name) != path:
                self.problems.append(f"{where}: extension module {name} did not load from {path}: {loaded.get(name)}")
        self.problems += [f"{where}: module from outside the runtime: {m}" for m in report.get("foreign_modules", [])]
        print(
            f"{where}: {report.get('machine')} Python {report.get('python')}, protobuf {report.get('protobuf')}, "
            f"{len(loaded)} extension modules imported from the layers; init {report.get('init_s')} s, "
            f"init + invocation {report.get('invoke_s')} s"
        )

    # -- everything ------------------------------------------------------------------------------------
    def main(self) -> int:
        started = time.monotonic()
        self.work.mkdir(parents=True, exist_ok=True)
        setup_log = self.work / "setup.log"
        setup_log.write_text("")
        platform = lambda_platform.prepare(self.work, setup_log)
        boto3_version = lambda_platform.install_runtime_boto3(platform, setup_log)
        print(
            f"platform: {platform.qemu.name} + Debian 13 arm64 python3.13 in {platform.sysroot}, boto3 {boto3_version}"
        )
        with services() as self.services:
            results = {mode: self.run(mode, platform) for mode in ("native", "arm64")}
        width = max(len(k) for k in results["native"])
        for key, native in results["native"].items():
            emulated = results["arm64"][key]
            mark = "==" if native == emulated else "!="
            print(
                f"{key:<{width}}  {mark}  {json.dumps(emulated)}"
                + ("" if native == emulated else f"  (native: {json.dumps(native)})")
            )
            if native != emulated:
                self.problems.append(f"{key}: arm64 gave {emulated}, native gave {native}")
        for problem in self.problems:
            print(f"FAIL {problem}", file=sys.stderr)
        verdict = "FAILED" if self.problems else "OK"
        print(f"check-lambda {verdict} in {time.monotonic() - started:.0f} s (logs in {self.work})")
        return 1 if self.problems else 0


def drain(sqs: Any, queue: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        messages += batch
    return messages


def sqs_event(sqs: Any, queue: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The SQS event source's event for these messages, in the shape of events/sqs-inline.json."""
    example = json.loads((ROOT / "events" / "sqs-inline.json").read_text())["Records"][0]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    records = [
        {
            **example,
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "md5OfBody": m["MD5OfBody"],
            "eventSourceARN": arn,
            "awsRegion": REGION,
        }
        for m in messages
    ]
    return {"Records": records}


def normalise(key: str, run_id: str) -> str:
    """Archive keys without what differs between two runs: the run id and the hour it started."""
    key = key.replace(run_id, "{run_id}")
    return re.sub(r"dt=\d{4}-\d{2}-\d{2}/hour=\d{2}", "dt={date}/hour={hour}", key)


@contextmanager
def services() -> Iterator[Services]:
    """moto's server, the simulator and the OTLP receiver on loopback, with the configuration and secrets in place."""
    from moto.server import ThreadedMotoServer

    with ExitStack() as stack:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server: no line per request
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION, **CREDENTIALS})
        simulator = stack.enter_context(NodeSimulator(RELATIONS, secret=JWT_SECRET))
        receiver = stack.enter_context(OtlpReceiver())
        secrets, ssm = boto3.client("secretsmanager"), boto3.client("ssm")
        jwt = secrets.create_secret(Name="exalate/check-lambda-jwt", SecretString=JWT_SECRET)["ARN"]
        headers = secrets.create_secret(Name="exalate/check-lambda-otlp", SecretString="=".join(OTLP_HEADER))["ARN"]
        parameter = "/exalate-collector/check-lambda"
        node = {
            "name": NODE,
            "base_url": simulator.base_url,
            "relations": RELATIONS,
            "auth": {"type": "jwt", "secret": f"secretsmanager:{jwt}"},
        }
        ssm.put_parameter(Name=parameter, Value=yaml.safe_dump({"nodes": [node]}), Type="String")
        yield Services(
            endpoint,
            simulator,
            receiver,
            {
                "ConfigParameterName": parameter,
                "JwtSecretArns": jwt,
                "OtlpEndpoint": receiver.endpoint,
                "OtlpHeadersSecretArn": headers,
                "AWS::Region": REGION,
                "AWS::StackName": STACK,
            },
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, default=Path(".aws-sam/build"), help="sam build's output")
    parser.add_argument("--work", type=Path, default=Path(".check-lambda"), help="the cache (git-ignored)")
    args = parser.parse_args()
    if not (args.build / "template.yaml").exists():
        print(f"{args.build}/template.yaml not found: run sam build (make check-template) first", file=sys.stderr)
        return 2
    return Check(args.build.resolve(), args.work.resolve()).main()


if __name__ == "__main__":
    sys.exit(main())
