#!/usr/bin/env bash
# Build the image in one go: the wheelhouse (wheelhouse.sh), the base (BASE, else a Debian 13 base made by
# debian-base.sh), then podman build with no network (everything the build installs is in the wheelhouse).
#
#   deploy/container/build.sh TAG                                            # on a Debian 13 base
#   BASE=docker.io/library/python:3.13-slim deploy/container/build.sh TAG    # on the public base
#
# PODMAN             the podman command (default podman; `docker` works too, given a BASE)
# PODMAN_BUILD_OPTS  more options for the build, e.g. --ulimit ... (make image sets what this machine needs)
# WHEELHOUSE         where the build context is made (default build/wheelhouse)
# PYTHON, ARCH       as in wheelhouse.sh
set -euo pipefail
tag=${1:?usage: build.sh TAG}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
read -r -a podman <<< "${PODMAN:-podman}"
read -r -a opts <<< "${PODMAN_BUILD_OPTS:-}"
context=${WHEELHOUSE:-$root/build/wheelhouse}

"$here/wheelhouse.sh" "$context"
base=${BASE:-$("$here/debian-base.sh")}
echo "build.sh: building $tag on $base" >&2
"${podman[@]}" build --network=none --layers=false "${opts[@]}" --build-arg BASE="$base" \
    --file "$here/Containerfile" --tag "$tag" "$context"
