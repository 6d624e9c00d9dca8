"""The deployment recipes of deploy/ (docs/deploy.md), each checked with the tool its users run it with.

- The container image, built by deploy/container/build.sh with real podman (rootful, no network during the
  build) on a Debian 13 base made by mmdebstrap, then run as a deployment runs it (read-only root, no
  capabilities, the configuration mounted, the secret in the environment, a volume or S3) against the
  simulator, the OTLP receiver and moto's server on loopback.
- The Kubernetes manifest against the Kubernetes JSON schemas (kubernetes-validate, offline, strict).
- The systemd units with systemd-analyze verify and security.
- The release: sdist and wheel by python -m build, twine check, the wheel in a fresh virtualenv.

`make check-recipes` installs the tools and runs this module (marker ``recipes``; `make test` leaves it
out). A missing tool skips the tests needing it, naming the tool.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from exalate_collector import __version__
from exalate_collector.config import parse_config
from exalate_collector.endpoints import polls_per_relation
from exalate_collector.simulator import NodeSimulator

from ..conftest import ROOT
from .conftest import SECRET, node_config

pytestmark = [pytest.mark.integration, pytest.mark.recipes]

DEPLOY = ROOT / "deploy"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"
MANIFEST = DEPLOY / "kubernetes" / "exalate-collector.yaml"
UNITS = DEPLOY / "systemd"
DOCS = ROOT / "docs" / "deploy.md"
CACHE = ROOT / ".cache" / "deploy"
#: As the Makefile sets it (make exports PODMAN): a storage of the project's own, and runc (crun 1.8 refuses
#: this machine's cgroup v1 hybrid hierarchy).
PODMAN_DEFAULT = f"podman --root {CACHE}/podman/storage --runroot {CACHE}/podman/run --runtime runc"
#: rlimits no higher than podman's own: raising them needs CAP_SYS_RESOURCE, which root lacks here.
LIMITS_DEFAULT = "--ulimit nofile=4096:4096 --ulimit nproc=4096:4096"
TAG = "localhost/exalate-collector:recipes-test"
UID = 10001
RELATIONS = ["AllContent", "GROOVY"]


def need_commands(*names: str) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        pytest.skip(
            f"!!! {', '.join(missing)} not installed: make check-recipes installs it (Debian packages, as root)"
        )


def need_modules(*pairs: tuple[str, str]) -> None:
    missing = [package for module, package in pairs if importlib.util.find_spec(module) is None]
    if missing:
        pytest.skip(f"!!! Python package {', '.join(missing)} not installed: pip install -e '.[dev]' installs it")


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; a failure shows its output (never a secret: none is on a command line)."""
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    assert done.returncode == 0, f"{shlex.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def podman() -> list[str]:
    return shlex.split(os.environ.get("PODMAN") or PODMAN_DEFAULT)


def limits() -> list[str]:
    return shlex.split(os.environ.get("PODMAN_LIMITS", LIMITS_DEFAULT))


# -- the container image ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The image as `make image` builds it (deploy/container/build.sh), on the Debian 13 base."""
    need_commands("podman", "runc", "mmdebstrap")
    env = {
        **os.environ,
        "PODMAN": shlex.join(podman()),
        "PODMAN_BUILD_OPTS": shlex.join(["--pull=never", *limits()]),
        "PYTHON": sys.executable,
        "WHEELHOUSE": str(tmp_path_factory.mktemp("wheelhouse")),
        "EXALATE_CACHE": str(ROOT / ".cache"),
    }
    env.pop("BASE", None)
    run(["bash", str(DEPLOY / "container" / "build.sh"), TAG], env=env, timeout=1800)
    yield TAG
    # the project's own storage: the image and what a rebuild left untagged go, the cached base stays
    subprocess.run([*podman(), "rmi", "--force", TAG], capture_output=True, check=False)
    subprocess.run([*podman(), "image", "prune", "--force"], capture_output=True, check=False)


def run_container(
    image: str, *args: str, volumes: dict[Path, str] | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`podman run` as a deployment runs the image: read-only root with only a /tmp tmpfs (as Kubernetes'
    readOnlyRootFilesystem with an emptyDir), no capabilities, no new privileges, the host's loopback.
    Variables named in ``env`` reach the container by name only (``-e NAME``): values never on a command line."""
    command = [*podman(), "run", "--rm", "--network=host", *limits()]
    command += ["--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=64m,mode=1777"]
    command += ["--cap-drop=ALL", "--security-opt=no-new-privileges"]
    for host, guest in (volumes or {}).items():
        command += ["--volume", f"{host}:{guest}"]
    for name in env or {}:
        command += ["--env", name]
    return subprocess.run(
        [*command, image, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def node() -> Iterator[NodeSimulator]:
    with NodeSimulator(RELATIONS, secret=SECRET) as sim:
        yield sim


@pytest.fixture
def config(tmp_path: Path, node: NodeSimulator) -> Path:
    """The configuration a user mounts: the secret as a ${VAR} reference, given in the environment."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"nodes": [node_config(node, RELATIONS, auth={"secret": "${EXALATE_JWT_SECRET}"})]}))
    path.chmod(0o644)
    return path


def test_the_containerfile_names_the_public_base_and_has_two_stages():
    text = CONTAINERFILE.read_text()
    assert re.search(r"^ARG BASE=docker\.io/library/python:3\.13-slim$", text, re.MULTILINE)
    assert re.findall(r"^FROM \S+", text, re.MULTILINE) == ["FROM ${BASE}", "FROM ${BASE}"]
    assert "COPY --from=build /opt/exalate-collector /opt/exalate-collector" in text


def test_the_image_runs_as_its_own_user_without_the_build_stage(image: str):
    inspected = json.loads(run([*podman(), "image", "inspect", image]).stdout)[0]["Config"]
    assert inspected["User"] == f"{UID}:{UID}"
    assert inspected["Entrypoint"] == ["exalate-collector"] and inspected["Cmd"] == ["run"]
    assert "/var/lib/exalate-collector" in inspected["Volumes"]
    probe = (
        "import importlib.metadata, importlib.util, json, os, exalate_collector;"
        "print(json.dumps(sorted(d.metadata['Name'] for d in importlib.metadata.distributions())));"
        "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'version': exalate_collector.__version__,"
        "'pip': importlib.util.find_spec('pip') is not None, 'wheels': os.path.exists('/wheels'),"
        "'root_writable': os.access('/opt/exalate-collector', os.W_OK),"
        "'fixtures': len(os.listdir(os.path.join(os.path.dirname(exalate_collector.__file__),"
        " 'simulator', 'fixtures')))}))"
    )
    done = subprocess.run(
        [*podman(), "run", "--rm", "--network=none", *limits(), "--read-only", "--entrypoint", "python3", image]
        + ["-c", probe],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    dists, probed = done.stdout.splitlines()
    # every dependency pyproject.toml names is in the image: the recipe takes them from there, no list of its own
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {normalized(re.split(r"[\s<>=!~;\[(]", d, maxsplit=1)[0]) for d in declared}
    assert wanted - {normalized(name) for name in json.loads(dists)} == set()
    seen = json.loads(probed)
    assert seen["uid"] == seen["gid"] == UID
    assert seen["version"] == __version__
    assert seen["pip"] is False and seen["wheels"] is False  # the installer and the wheelhouse stayed behind
    assert seen["root_writable"] is False
    assert seen["fixtures"] > 0  # package data: the simulator's fixtures (the demo runs in the image)
    version = run([*podman(), "run", "--rm", "--network=none", *limits(), image, "--version"])
    assert version.stdout.split() == ["exalate-collector", __version__]


def test_a_run_in_the_container_exports_to_the_receiver_and_keeps_its_state_in_the_volume(
    image: str, node: NodeSimulator, receiver, config: Path, tmp_path: Path
):
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, UID, UID)  # what fsGroup does in Kubernetes, or `podman unshare chown` rootless
    env = {"EXALATE_JWT_SECRET": SECRET, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
    volumes = {config: "/etc/exalate-collector/config.yaml:ro", data: "/var/lib/exalate-collector"}
    args = ("run", "--deadline", "60", "--instance-id", "container-test")

    first = run_container(image, *args, volumes=volumes, env=env)
    assert first.returncode == 0, first.stderr
    first_points = receiver.points()
    first_events = receiver.events()
    receiver.clear()
    second = run_container(image, *args, volumes=volumes, env=env)
    assert second.returncode == 0, second.stderr
    second_points = receiver.points()

    for done in (first, second):
        assert SECRET not in done.stdout + done.stderr
        assert "Traceback" not in done.stderr
    assert len(node.seen) == 2 * polls_per_relation(RELATIONS)
    assert all(seen.authenticated for seen in node.seen)  # the secret arrived through the environment
    # what arrived: the metrics of both relations, the seed's sync error, the fixed service.instance.id
    assert {p.attributes.get("exalate.relation") for p in first_points} >= set(RELATIONS)
    assert {p.attributes.get("exalate.node") for p in first_points} - {None} == {"jira-test"}  # None: run-wide
    assert "exalate.sync.error" in {e.event_name for e in first_events}
    assert {r.get("service.instance.id") for r in receiver.resources()} == {"container-test"}
    # the state carried from one container to the next: the counters go on from the first run's start time
    first_sums = {(p.name, json.dumps(p.attributes, sort_keys=True)): p for p in first_points if p.kind == "sum"}
    pairs = [
        (first_sums[key], p)
        for p in second_points
        if p.kind == "sum" and p.monotonic and (key := (p.name, json.dumps(p.attributes, sort_keys=True))) in first_sums
    ]
    assert pairs  # the same counters in both runs
    for before, after in pairs:
        assert after.start_time_unix_nano == before.start_time_unix_nano, after.name
        assert after.time_unix_nano > before.time_unix_nano
    # the volume: the state and one archive object per run, owned by the image's user
    state = data / "state" / "jira-test.json"
    assert state.stat().st_uid == UID
    archived = sorted((data / "archive").rglob("*.jsonl.gz"))
    assert len(archived) == 2
    record = json.loads(gzip.decompress(archived[0].read_bytes()).splitlines()[0])
    assert record["node"] == "jira-test"
    assert SECRET not in gzip.decompress(archived[0].read_bytes()).decode()


def test_a_run_in_the_container_keeps_state_and_archive_in_s3(image: str, node, receiver, config: Path, aws: str):
    s3 = boto3.client("s3", endpoint_url=aws, region_name="eu-west-1")
    bucket = "exalate-container-test"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    env = {
        "EXALATE_JWT_SECRET": SECRET,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "ARCHIVE_BUCKET": bucket,  # the state goes there too (STATE_BUCKET defaults to it)
        **{k: os.environ[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")},
    }
    mounts = {config: "/etc/exalate-collector/config.yaml:ro"}
    done = run_container(image, "run", "--instance-id", "container-s3", volumes=mounts, env=env)
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert "state/jira-test.json" in keys
    assert any(k.startswith("exalate/dt=") and k.endswith(".jsonl.gz") for k in keys), keys
    assert receiver.points()


def test_a_missing_secret_in_the_container_is_a_configuration_error(image: str, node, config: Path):
    done = run_container(image, "run", volumes={config: "/etc/exalate-collector/config.yaml:ro"})
    assert done.returncode == 2
    assert "EXALATE_JWT_SECRET" in done.stderr and "Traceback" not in done.stderr
    assert node.seen == []


# -- Kubernetes ---------------------------------------------------------------------------------------


def manifest() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc}


@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_the_manifest_validates_against_the_kubernetes_schemas(version: str):
    need_modules(("kubernetes_validate", "kubernetes-validate"))
    tool = [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", version]
    done = run([*tool, str(MANIFEST)])
    passed = re.findall(r"passed for resource (\S+) against version", done.stdout + done.stderr)
    assert sorted(passed) == sorted(f"{kind.lower()}/exalate-collector" for kind in manifest())
    assert "CronJob" in manifest()


def test_the_validator_refuses_a_misspelt_field(tmp_path: Path):
    """The control for the test above: strict validation does see a field the schema does not have."""
    need_modules(("kubernetes_validate", "kubernetes-validate"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(MANIFEST.read_text().replace("concurrencyPolicy: Forbid", "concurencyPolicy: Forbid"))
    done = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", str(bad)], capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    assert "'concurencyPolicy' was unexpected" in done.stdout + done.stderr


def test_the_cronjob_forbids_overlap_and_runs_restricted():
    docs = manifest()
    cron = docs["CronJob"]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == UID  # the image's user
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    ctx = container["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True and ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/exalate-collector"]["readOnly"] is True
    assert {"/var/lib/exalate-collector", "/tmp"} <= set(mounts)  # the volume and the spool of a read-only root
    assert "--instance-id" in container["args"]  # the pod's host name changes at every run


def test_the_configmap_parses_and_its_secrets_come_from_the_secret():
    docs = manifest()
    text = docs["ConfigMap"]["data"]["config.yaml"]
    parse_config(yaml.safe_load(text))  # a ConfigError names the node and key
    (container,) = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    referenced = set(re.findall(r"\$\{(\w+)\}", text))
    assert referenced
    for name in referenced:  # each reference resolves from the Secret, not from a literal
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == docs["Secret"]["metadata"]["name"]
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] in docs["Secret"]["stringData"]
    assert env["EXALATE_COLLECTOR_CONFIG"]["value"] == "/etc/exalate-collector/config.yaml"


def test_the_cronjob_pod_runs_as_its_manifest_says(image: str, node, receiver, config: Path, tmp_path: Path):
    """The pod's own user, arguments, environment names and mounts, given to podman (no cluster here)."""
    docs = manifest()
    pod = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    data = tmp_path / "pvc"
    data.mkdir()
    os.chown(data, 0, pod["securityContext"]["fsGroup"])
    data.chmod(0o2770)  # as fsGroup leaves a volume: group-owned, group-writable
    user = f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    values = {e["name"]: e.get("value") for e in container["env"] if "value" in e}
    env = {**values, "EXALATE_JWT_SECRET": SECRET, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
    command = [*podman(), "run", "--rm", "--network=host", *limits(), "--user", user]
    command += ["--read-only", "--read-only-tmpfs=false", "--tmpfs", f"{mounts['tmp']}:rw,size=64m,mode=1777"]
    command += ["--cap-drop=ALL", "--security-opt=no-new-privileges"]
    command += ["--volume", f"{config}:{mounts['config']}/config.yaml:ro", "--volume", f"{data}:{mounts['data']}"]
    for name in env:
        command += ["--env", name]
    done = subprocess.run(
        [*command, image, *container["args"]],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    assert {r.get("service.instance.id") for r in receiver.resources()} == {"exalate-collector-k8s"}
    assert (data / "state" / "jira-test.json").exists()
    assert len(node.seen) == polls_per_relation(RELATIONS)


# -- systemd ------------------------------------------------------------------------------------------


def unit_copies(tmp_path: Path, install: Path) -> list[Path]:
    """The units with ExecStart's /opt/exalate-collector replaced by a real installation (verify checks that
    the program exists; the machine's /opt is not ours to fill)."""
    copies = []
    for name in ("exalate-collector.service", "exalate-collector.timer"):
        copy = tmp_path / name
        copy.write_text((UNITS / name).read_text().replace("/opt/exalate-collector/", f"{install}/"))
        copies.append(copy)
    return copies


def test_the_units_verify(tmp_path: Path, installed_wheel: Path):
    need_commands("systemd-analyze")
    copies = unit_copies(tmp_path, installed_wheel)
    done = subprocess.run(
        ["systemd-analyze", "verify", *map(str, copies)], capture_output=True, text=True, check=False, timeout=120
    )
    # verify exits 0 on a value it ignores: what it says about our units counts too
    ours = [line for line in (done.stdout + done.stderr).splitlines() if "exalate-collector" in line]
    assert done.returncode == 0 and ours == [], done.stdout + done.stderr


def test_the_verify_control_sees_a_bad_value(tmp_path: Path, installed_wheel: Path):
    need_commands("systemd-analyze")
    service, timer = unit_copies(tmp_path, installed_wheel)
    service.write_text(service.read_text().replace("ProtectSystem=strict", "ProtectSystem=stricter"))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(service), str(timer)], capture_output=True, text=True, check=False
    )
    assert "exalate-collector.service:" in done.stderr and "stricter" in done.stderr


def test_the_service_exposure_is_what_the_docs_say():
    need_commands("systemd-analyze")
    service = UNITS / "exalate-collector.service"
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=20", "--no-pager", str(service)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    found = re.search(r"Overall exposure level for exalate-collector\.service: (\d+\.\d+) (\w+)", done.stdout)
    assert found, done.stdout + done.stderr
    assert done.returncode == 0, f"exposure {found.group(1)} above the threshold 2.0 (--threshold=20: tenths)"
    documented = re.search(r"`systemd-analyze security`[^\n]*?: \*\*(\d+\.\d+) (\w+)\*\*", DOCS.read_text())
    assert documented, "docs/deploy.md records the exposure as: `systemd-analyze security` ...: **N.N LEVEL**"
    assert (found.group(1), found.group(2)) == (documented.group(1), documented.group(2))
    text = service.read_text()
    for setting in ("DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=exalate-collector", "Type=oneshot"):
        assert f"\n{setting}\n" in text


#: The systemd of these machines (252, Debian 12): trixie's 257 does not boot on their cgroup v1 hierarchy.
SYSTEMD_SUITE, SYSTEMD_PYTHON = "bookworm", "3.11"
SYSTEMD_PACKAGES = "systemd,libnss-systemd,python3"


@pytest.fixture(scope="session")
def systemd_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """A Debian 12 container booting systemd as PID 1, the wheel installed as docs/deploy.md says (a virtualenv
    at /opt/exalate-collector, here from a wheelhouse) and the units in /etc/systemd/system; yields the
    command prefix that runs a command in it. Privileged: the units' sandboxing needs namespaces and mounts."""
    need_commands("podman", "runc", "mmdebstrap")
    env = {**os.environ, "PODMAN": shlex.join(podman()), "EXALATE_CACHE": str(ROOT / ".cache")}
    env |= {"SUITE": SYSTEMD_SUITE, "PACKAGES": SYSTEMD_PACKAGES}
    base = run(["bash", str(DEPLOY / "container" / "debian-base.sh")], env=env, timeout=1800).stdout.strip()
    wheels = tmp_path_factory.mktemp("wheelhouse-systemd")
    env |= {"PYTHON": sys.executable, "PY_VERSION": SYSTEMD_PYTHON}
    run(["bash", str(DEPLOY / "container" / "wheelhouse.sh"), str(wheels)], env=env, timeout=600)
    name = f"exalate-collector-systemd-{os.getpid()}"
    boot = [*podman(), "run", "--detach", "--rm", "--name", name, *limits(), "--network=host", "--privileged"]
    run([*boot, "--systemd=always", base, "/lib/systemd/systemd"])
    try:
        inside = [*podman(), "exec", name]
        # systemctl talks to PID 1 through its private socket: wait (bounded) until systemd has made it
        for _ in range(600):
            if subprocess.run([*inside, "test", "-S", "/run/systemd/private"], check=False).returncode == 0:
                break
            time.sleep(0.1)
        # --wait: until the boot is over (running, or degraded where a unit of the image itself failed)
        booted = subprocess.run(
            [*inside, "systemctl", "is-system-running", "--wait"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert booted.stdout.strip() in ("running", "degraded"), booted.stdout + booted.stderr
        run([*podman(), "cp", str(wheels), f"{name}:/wheels"])
        for unit in ("exalate-collector.service", "exalate-collector.timer"):
            run([*podman(), "cp", str(UNITS / unit), f"{name}:/etc/systemd/system/{unit}"])
        install = (
            "python3 -m venv --without-pip /opt/exalate-collector && /opt/exalate-collector/bin/python"
            ' "$(echo /wheels/pip-*.whl)/pip" install --quiet --no-index --find-links /wheels exalate-collector'
            " && mkdir -p /etc/exalate-collector && systemctl daemon-reload"
        )
        run([*inside, "sh", "-c", install], timeout=600)
        yield inside
    finally:
        subprocess.run([*podman(), "rm", "--force", name], capture_output=True, check=False)


def configure_host(inside: list[str], tmp_path: Path, config: Path, environment: str) -> None:
    """The configuration and the environment file (mode 0600) as docs/deploy.md installs them."""
    (tmp_path / "environment").write_text(environment)
    name = inside[-1]
    for local, remote in ((config, "config.yaml"), (tmp_path / "environment", "environment")):
        run([*podman(), "cp", str(local), f"{name}:/etc/exalate-collector/{remote}"])
    run([*inside, "chmod", "0600", "/etc/exalate-collector/environment"])
    # a failure left by an earlier test (none yet: the unit is not loaded, and this says so)
    subprocess.run(
        [*inside, "systemctl", "reset-failed", "exalate-collector.service"], capture_output=True, check=False
    )


def unit_status(inside: list[str]) -> dict[str, str]:
    shown = run([*inside, "systemctl", "show", "-p", "Result", "-p", "ExecMainStatus", "exalate-collector.service"])
    return dict(line.split("=", 1) for line in shown.stdout.splitlines())


def test_the_service_runs_under_systemd_with_its_hardening(systemd_host, node, receiver, config, tmp_path):
    inside = systemd_host
    configure_host(
        inside, tmp_path, config, f"EXALATE_JWT_SECRET={SECRET}\nOTEL_EXPORTER_OTLP_ENDPOINT={receiver.endpoint}\n"
    )
    # a oneshot: start returns when the run is over
    run([*inside, "systemctl", "start", "exalate-collector.service"], timeout=300)
    assert unit_status(inside) == {"Result": "success", "ExecMainStatus": "0"}
    assert len(node.seen) == polls_per_relation(RELATIONS)
    assert {p.attributes.get("exalate.relation") for p in receiver.points()} >= set(RELATIONS)
    # the default instance id: the host name and the configuration path, stable on a VM
    (instance,) = {r.get("service.instance.id") for r in receiver.resources()}
    assert instance.endswith(":/etc/exalate-collector/config.yaml")
    # the state belongs to the transient user, under the StateDirectory
    owner = run([*inside, "stat", "-c", "%u %a", "/var/lib/private/exalate-collector/state/jira-test.json"])
    uid, mode = owner.stdout.split()
    assert int(uid) != 0 and mode == "600"  # DynamicUser's uid, UMask=0077
    journal = run([*inside, "journalctl", "--no-pager", "-u", "exalate-collector.service"]).stdout
    assert f"{polls_per_relation(RELATIONS)} polls" in journal
    assert SECRET not in journal
    # the timer: enabled, it schedules the next run
    run([*inside, "systemctl", "enable", "--now", "exalate-collector.timer"])
    timers = run([*inside, "systemctl", "list-timers", "--no-pager", "exalate-collector.timer"]).stdout
    assert "exalate-collector.service" in timers and "1 timers listed" in timers
    run([*inside, "systemctl", "disable", "--now", "exalate-collector.timer"])  # no run of its own in other tests


def test_a_run_with_a_missing_secret_fails_the_unit(systemd_host, node, config, tmp_path):
    inside = systemd_host
    configure_host(inside, tmp_path, config, "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9\n")
    started = subprocess.run(
        [*inside, "systemctl", "start", "exalate-collector.service"], capture_output=True, check=False
    )
    assert started.returncode != 0
    assert unit_status(inside) == {"Result": "exit-code", "ExecMainStatus": "2"}  # shows in systemctl --failed
    assert node.seen == []


# -- the release --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_modules(("build", "build"), ("twine", "twine"))
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], timeout=600)
    return out


@pytest.fixture(scope="session")
def installed_wheel(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel (and its dependencies from the index) and nothing else."""
    target = tmp_path_factory.mktemp("fresh") / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    (wheel,) = dist.glob("*.whl")
    run([str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], timeout=600)
    return target


def test_the_sdist_and_wheel_pass_twine_check(dist: Path):
    artifacts = sorted(dist.iterdir())
    assert [a.name for a in artifacts] == [
        f"exalate_collector-{__version__}-py3-none-any.whl",
        f"exalate_collector-{__version__}.tar.gz",
    ]
    done = run([sys.executable, "-m", "twine", "check", "--strict", *map(str, artifacts)])
    assert done.stdout.count("PASSED") == 2


def test_the_wheel_carries_the_package_data(dist: Path):
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "layers" / "lib" / "exalate_collector"
    data = [*(package / "simulator" / "fixtures").glob("*.json"), package / "telemetry" / "contract.yaml"]
    assert data
    for path in [*data, package / "py.typed"]:
        assert str(path.relative_to(package.parent)) in names
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        assert f"exalate_collector-{__version__}/CHANGELOG.md" in tar.getnames()
    metadata = zipfile.ZipFile(wheel).read(f"exalate_collector-{__version__}.dist-info/METADATA").decode()
    assert f"\nVersion: {__version__}\n" in metadata  # from exalate_collector.__version__, the one place


def test_the_wheel_runs_the_demo_in_a_fresh_virtualenv(installed_wheel: Path, tmp_path: Path):
    command = installed_wheel / "bin" / "exalate-collector"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "ARCHIVE_", "STATE_"))}
    env.pop("PYTHONPATH", None)
    version = run([str(command), "--version"], env=env, cwd=tmp_path)
    assert version.stdout.split() == ["exalate-collector", __version__]
    python = str(installed_wheel / "bin" / "python")
    where = run([python, "-c", "import exalate_collector; print(exalate_collector.__file__)"], env=env, cwd=tmp_path)
    assert where.stdout.startswith(str(installed_wheel))  # the wheel's copy, not this checkout
    demo = run([str(command), "demo"], env=env, cwd=tmp_path, timeout=300)
    assert demo.stdout.count("verdict: ") == 2 and "=== run 2" in demo.stdout
    assert "verdict: 4 relations healthy, 1 removed on the other side" in demo.stdout
