"""The Lambda arm64 / Python 3.13 platform under emulation, built once and cached in a work directory.

Debian 13 (trixie) packages, fetched with ``apt-get download`` through a private apt directory (its own
sources.list, state and cache; the system's apt sources are not touched):

- ``qemu-user`` (amd64; static binaries): only ``qemu-aarch64`` is taken from it;
- arm64 ``python3.13`` with the runtime libraries it needs (the dependency closure apt resolves), unpacked
  with ``dpkg-deb -x`` into a sysroot. Trixie keeps everything under /usr: ``lib``, ``bin`` and ``sbin``
  links make the loader (/lib/ld-linux-aarch64.so.1) and the libraries findable through ``qemu -L``.

The Lambda runtime's boto3 (the layers leave it out) is installed for arm64 into the sysroot's /var/runtime.
Delete the work directory to fetch current packages again.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
SUITE = "trixie"
KEYRINGS = (
    "/usr/share/keyrings/debian-archive-trixie-stable.gpg",
    "/usr/share/keyrings/debian-archive-trixie-automatic.gpg",
)
EMULATOR_PACKAGE = "qemu-user:amd64"
EMULATOR = "usr/bin/qemu-aarch64"
#: Roots of the sysroot's closure: the interpreter, the standard library (ssl, sqlite3, ctypes, ...) and the
#: C++ runtime that Lambda's image has too (protobuf's upb extension links libstdc++.so.6).
RUNTIME_PACKAGES = ("python3.13-minimal:arm64", "libpython3.13-stdlib:arm64", "libstdc++6:arm64")
PYTHON = "usr/bin/python3.13"
RUNTIME_DIR = "var/runtime"  # where the Lambda runtime keeps boto3; after the layers on sys.path


@dataclass(frozen=True)
class Platform:
    qemu: Path
    sysroot: Path

    def python(self, *args: str) -> list[str]:
        """The command running the emulated python3.13; -S: no site, so no host dist-packages on sys.path."""
        return [str(self.qemu), "-L", str(self.sysroot), str(self.sysroot / PYTHON), "-S", *args]

    def path(self, guest: str) -> Path:
        """Where a guest path such as /opt/python lives on the host (qemu looks in the sysroot first)."""
        return self.sysroot / guest.lstrip("/")


def prepare(work: Path, log: Path) -> Platform:
    """The emulator and the sysroot, fetched and unpacked on first use; warm runs only check the stamps."""
    qemu, sysroot = work / "qemu-aarch64", work / "sysroot"
    stamp, roots = sysroot / ".complete", f"{EMULATOR_PACKAGE} {' '.join(RUNTIME_PACKAGES)}\n"
    if not (stamp.exists() and stamp.read_text().startswith(roots) and qemu.exists()):
        apt = PrivateApt(work / "apt", log)
        debs = work / "debs"
        shutil.rmtree(debs, ignore_errors=True)
        debs.mkdir(parents=True)
        apt.run("update")
        packages = apt.closure(RUNTIME_PACKAGES)
        apt.run("download", EMULATOR_PACKAGE, *packages, cwd=debs)
        shutil.rmtree(sysroot, ignore_errors=True)
        sysroot.mkdir()
        unpacked = []
        for deb in sorted(debs.glob("*.deb")):
            if deb.name.startswith("qemu-user_"):
                extract_member(deb, EMULATOR, qemu)
            else:
                run(["dpkg-deb", "-x", str(deb), str(sysroot)], log)
                unpacked.append(deb.name)
        for link in ("lib", "bin", "sbin"):
            (sysroot / link).symlink_to(f"usr/{link}")
        stamp.write_text(roots + "\n".join(unpacked) + "\n")
        shutil.rmtree(debs)  # unpacked: 80 MB less in the work directory
    return Platform(qemu, sysroot)


def install_runtime_boto3(platform: Platform, log: Path) -> str:
    """boto3 for arm64 / 3.13 where the runtime has it, at the native virtualenv's version (same code both sides)."""
    version = importlib.metadata.version("boto3")
    target = platform.path(RUNTIME_DIR)
    stamp = target / f".boto3-{version}"
    if not stamp.exists():
        shutil.rmtree(target, ignore_errors=True)
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        wheels = ["--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.13"]
        target_args = ["--only-binary=:all:", "--no-compile", "--target", str(target), f"boto3=={version}"]
        run([*pip, *wheels, *target_args], log)
        stamp.touch()
    return version


class PrivateApt:
    """apt-get with its own configuration: trixie for amd64 and arm64, its own lists and cache."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root, self.log = root, log
        for sub in ("lists/partial", "cache/archives/partial", "etc/sources.list.d", "etc/preferences.d"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "status").touch()  # nothing installed: apt resolves the whole closure
        missing = [k for k in KEYRINGS if not Path(k).exists()]
        if missing:
            raise FileNotFoundError(
                f"{', '.join(missing)}: apt-get install debian-archive-keyring (2023.3+deb12u2 or later)"
            )
        keys = ",".join(KEYRINGS)
        (root / "etc/sources.list").write_text(f"deb [arch=amd64,arm64 signed-by={keys}] {MIRROR} {SUITE} main\n")
        (root / "apt.conf").write_text(
            "\n".join(
                [
                    f'Dir::Etc::SourceList "{root}/etc/sources.list";',
                    f'Dir::Etc::SourceParts "{root}/etc/sources.list.d";',
                    f'Dir::Etc::Preferences "{root}/etc/preferences";',
                    f'Dir::Etc::PreferencesParts "{root}/etc/preferences.d";',
                    f'Dir::State "{root}";',
                    f'Dir::State::Lists "{root}/lists";',
                    f'Dir::State::status "{root}/status";',
                    f'Dir::Cache "{root}/cache";',
                    'APT::Architecture "amd64";',
                    'APT::Architectures { "amd64"; "arm64"; };',
                    'APT::Sandbox::User "root";',
                    "",
                ]
            )
        )

    def run(self, *args: str, cwd: Path | None = None) -> str:
        env = {**os.environ, "APT_CONFIG": str(self.root / "apt.conf")}
        return run(["apt-get", "--quiet", *args], self.log, env=env, cwd=cwd)

    def closure(self, roots: tuple[str, ...]) -> list[str]:
        """The arm64 packages that installing ``roots`` on an empty system brings (no recommends)."""
        plan = self.run("install", "--simulate", "--no-install-recommends", *roots)
        found = [line.split()[1] for line in plan.splitlines() if line.startswith("Inst ")]
        return [name for name in found if name.endswith(":arm64")]


def extract_member(deb: Path, member: str, target: Path) -> None:
    """One file out of a .deb (qemu-user unpacks to 450 MB; only qemu-aarch64 is needed)."""
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    with target.open("wb") as out:
        subprocess.run(["tar", "-xO", f"./{member}"], stdin=tar.stdout, stdout=out, check=True)
    if tar.wait() != 0:
        raise subprocess.CalledProcessError(tar.returncode, "dpkg-deb --fsys-tarfile")
    target.chmod(0o755)


def run(command: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a set-up command; its output goes to the log, and is shown if it fails."""
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    with log.open("a") as f:
        f.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise subprocess.CalledProcessError(done.returncode, command)
    return done.stdout
