#!/usr/bin/env bash
# The container build context: the project's wheel, every dependency's wheel for the image's platform, and
# pip's own wheel (the image runs pip from it). The dependencies are what the wheel's metadata says, i.e.
# pyproject.toml's [project] dependencies: there is no second list to keep.
#
#   deploy/container/wheelhouse.sh OUT_DIR
#
# PYTHON      the interpreter whose pip downloads (default python3; the project's .venv/bin/python in make)
# ARCH        the image's machine: x86_64 or aarch64 (default: this machine's)
# PY_VERSION  the image's Python (default 3.13, as in the Containerfile's bases)
# Only binary wheels are taken (--only-binary=:all:): nothing is compiled for a platform that is not this one.
set -euo pipefail
out=${1:?usage: wheelhouse.sh OUT_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python3}
arch=${ARCH:-$(uname -m)}
py_version=${PY_VERSION:-3.13}
# glibc 2.28 or later (Debian 11+, python:3.13-slim): manylinux_2_28 and the older tags, each named, since pip
# does not widen a --platform to the older tags itself (protobuf's native wheel is manylinux2014 only).
platforms=()
for tag in manylinux_2_28 manylinux_2_17 manylinux2014 manylinux_2_12 manylinux2010 manylinux_2_5 manylinux1; do
    platforms+=(--platform "${tag}_${arch}")
done
pip=("$python" -m pip --disable-pip-version-check)

rm -rf "$out" && mkdir -p "$out"
"${pip[@]}" wheel --quiet --no-deps --wheel-dir "$out" "$root"
wheel=$(ls "$out"/exalate_collector-*.whl)
"${pip[@]}" download --quiet --dest "$out" --only-binary=:all: --implementation cp \
    --python-version "$py_version" "${platforms[@]}" "$wheel"
# pip at the version of the interpreter doing this, so the image's installer is the one tested here.
"${pip[@]}" download --quiet --dest "$out" --only-binary=:all: --no-deps "pip==$("$python" -c 'import pip; print(pip.__version__)')"
ls "$out" >&2
