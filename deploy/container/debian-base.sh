#!/usr/bin/env bash
# A base image with Python 3.13 from Debian 13 (trixie) packages, for building the Containerfile where no
# registry is reachable (CI here). Made with mmdebstrap (root, Debian's mirror), imported into podman's
# storage; prints the image's name on stdout:
#
#   BASE=$(deploy/container/debian-base.sh) && podman build --build-arg BASE="$BASE" ...
#
# The root file system is cached as .cache/deploy/base-<key>.tar, key = the SHA-256 of this file, SUITE
# and PACKAGES: changing the suite, the packages or any option below makes a new one; delete the tar for
# current packages (security updates) with the same inputs.
# PODMAN    the podman command (default: podman), e.g. "podman --root DIR --runtime runc"
# MIRROR    a Debian mirror (default http://deb.debian.org/debian)
# SUITE     default trixie (Python 3.13); the systemd test of make check-recipes boots a bookworm one
# PACKAGES  comma-separated, default below
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${EXALATE_CACHE:-$here/../../.cache}/deploy
suite=${SUITE:-trixie}
mirror=${MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-$suite-stable.gpg
# python3 (3.13 in trixie) and its standard library; TLS roots for OTLP and nodes; useradd for the image's user.
packages=${PACKAGES:-python3,ca-certificates,passwd}
read -r -a podman <<< "${PODMAN:-podman}"

key=$({ cat "$0"; echo "$suite $packages"; } | sha256sum | cut -c1-12)
tar=$cache/base-$key.tar
image=localhost/exalate-collector-base:$suite-$key

if ! [ -s "$tar" ]; then
    command -v mmdebstrap >/dev/null || { echo "debian-base.sh: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
    [ -f "$keyring" ] || { echo "debian-base.sh: $keyring is missing (apt-get install debian-archive-keyring)" >&2; exit 1; }
    mkdir -p "$cache"
    rm -f "$cache"/base-*.tar.partial
    # essential: dpkg, coreutils, bash... and no apt; no documentation, manual pages or translations.
    mmdebstrap --quiet --variant=essential --include="$packages" --keyring="$keyring" \
        --aptopt='Acquire::Retries "3"' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --format=tar "$suite" "$tar.partial" "$mirror" >&2
    mv "$tar.partial" "$tar"
fi
if ! "${podman[@]}" image exists "$image"; then
    "${podman[@]}" import --quiet --change 'CMD ["/bin/bash"]' "$tar" "$image" >/dev/null
fi
echo "$image"
