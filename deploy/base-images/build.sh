#!/usr/bin/env bash
# Builds stand-ins for the official python, postgres and nats images from Debian's packages,
# for a Docker host that cannot pull from a registry:
#
#   deploy/base-images/build.sh [python] [postgres] [nats]      (default: all three)
#
# 1. a Debian root by debootstrap, imported as $BASE_IMAGE_PREFIX/debian:$DEBIAN_SUITE (kept:
#    the next build starts from it);
# 2. deploy/base-images/Dockerfile's targets on top of it, tagged
#    $BASE_IMAGE_PREFIX/python:3.11, $BASE_IMAGE_PREFIX/postgres:15 and $BASE_IMAGE_PREFIX/nats:2.11.
#
# It ends by printing the variables that select them (PYTHON_IMAGE=..., POSTGRES_IMAGE=...,
# NATS_IMAGE=...), for deploy/compose.yaml and deploy/Dockerfile; see docs/deploy.md.
#
# Variables: DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR (an internal mirror of Debian's archive),
# DEBIAN_SUITE (bookworm: its python3 is 3.11), BASE_IMAGE_PREFIX (omnistock-local),
# BUILD_CA_BUNDLE (a CA bundle pip trusts during the build only), PIP_INDEX_URL (a PyPI mirror).
# Needs root (debootstrap), debootstrap, and a BuildKit client (deploy/docker-build.sh).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
BASE_IMAGE_PREFIX=${BASE_IMAGE_PREFIX:-omnistock-local}
debian_image="$BASE_IMAGE_PREFIX/debian:$DEBIAN_SUITE"

declare -A tags=(
    [python]="$BASE_IMAGE_PREFIX/python:3.11"
    [postgres]="$BASE_IMAGE_PREFIX/postgres:15"
    [nats]="$BASE_IMAGE_PREFIX/nats:2.11"
)

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(python postgres nats)
for target in "${targets[@]}"; do
    [ -n "${tags[$target]:-}" ] || { echo "build.sh: unknown image $target (python, postgres, nats)" >&2; exit 64; }
done

debian_root() {
    if docker image inspect "$debian_image" >/dev/null 2>&1; then
        return 0
    fi
    command -v debootstrap >/dev/null || { echo "build.sh: debootstrap is needed (apt-get install debootstrap)" >&2; exit 1; }
    root=$(mktemp -d /tmp/omnistock-debian-XXXXXX)
    trap 'rm -rf "$root" "$root.log"' EXIT
    echo "build.sh: debootstrap $DEBIAN_SUITE from $DEBIAN_MIRROR"
    debootstrap --variant=minbase "$DEBIAN_SUITE" "$root" "$DEBIAN_MIRROR" >"$root.log" 2>&1 \
        || { tail -20 "$root.log" >&2; exit 1; }
    cat >"$root/etc/apt/sources.list" <<SOURCES
deb $DEBIAN_MIRROR $DEBIAN_SUITE main
deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main
deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main
SOURCES
    # Only what is asked for; the Dockerfile's apt cache is a build cache, so keep downloads.
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/90no-recommends"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
        --change 'CMD ["bash"]' - "$debian_image" >/dev/null
    echo "build.sh: imported $debian_image"
    rm -rf "$root" "$root.log"
}

debian_root
secret=()
if [ -n "${BUILD_CA_BUNDLE:-}" ]; then
    secret=(--secret "id=ca-bundle,src=$BUILD_CA_BUNDLE")
fi
for target in "${targets[@]}"; do
    echo "build.sh: building ${tags[$target]}"
    "$here/../docker-build.sh" --network host --progress plain "${secret[@]}" \
        --build-arg "DEBIAN_IMAGE=$debian_image" \
        ${PIP_INDEX_URL:+--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL"} \
        --target "$target" --tag "${tags[$target]}" "$here"
done
for target in "${targets[@]}"; do
    echo "${target^^}_IMAGE=${tags[$target]}"
done
