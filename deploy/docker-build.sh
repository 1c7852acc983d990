#!/usr/bin/env bash
# `docker build` with BuildKit, through whichever Docker client on this host can do it:
#   deploy/docker-build.sh [docker build options...] CONTEXT
#
# The Dockerfiles under deploy/ mount caches and secrets during RUN (`RUN --mount`), which only
# BuildKit understands. A Docker client with the buildx plugin (Docker 23+, Docker Desktop) builds
# with BuildKit by default; a Docker 20.10 client (Debian 12's docker.io) has BuildKit built in
# and needs DOCKER_BUILDKIT=1; a newer client without buildx can only use the legacy builder.
# DOCKER (a client command) chooses one by hand.
set -euo pipefail

buildkit_client() {
    local client major
    if [ -n "${DOCKER:-}" ]; then
        echo "$DOCKER"
        return 0
    fi
    # Every `docker` on the PATH, in order: the first that can build with BuildKit wins.
    while read -r client; do
        if "$client" buildx version >/dev/null 2>&1; then
            echo "$client"
            return 0
        fi
        major=$("$client" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1) || true
        if [ -n "$major" ] && [ "$major" -lt 23 ] 2>/dev/null; then
            echo "$client"
            return 0
        fi
    done < <(type -ap docker | awk '!seen[$0]++')
    return 1
}

if ! client=$(buildkit_client); then
    echo "docker-build: no Docker client here builds with BuildKit; install the buildx plugin" \
        "(docker-buildx-plugin), or Debian's docker.io, or set DOCKER to such a client" >&2
    exit 1
fi
DOCKER_BUILDKIT=1 exec "$client" build "$@"
