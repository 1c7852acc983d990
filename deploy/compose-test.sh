#!/usr/bin/env bash
# `make compose-test`: the whole system in containers on this host, tested, then removed.
#
#  1. engine    a Docker engine: the one that answers, or Debian's docker.io installed and
#               dockerd started here (storage driver: overlay2, else fuse-overlayfs, else vfs);
#  2. base      python, postgres and nats images: the official ones when they are here or can
#               be pulled, else stand-ins built from Debian's packages (deploy/base-images);
#  3. build     the Omnistock image (deploy/Dockerfile, BuildKit: deploy/docker-build.sh);
#  4. image     its hygiene (tests/deploy/compose/test_image.py: non-root, no compilers,
#               no embedded servers, no pip);
#  5. up        PostgreSQL, NATS, the migration and the five services (deploy/compose.yaml),
#               their ports published on 127.0.0.1;
#  6. e2e       the e2e suite and the README walk-through against the containers, through
#               their published ports (OMNISTOCK_E2E_ADDRESSES);
#  7. faults    a fresh stack; traffic while a service container is killed, NATS is killed and
#               `compose restart postgres` runs; every invariant checked once quiet
#               (tests/deploy/compose/test_faults.py), then `omnistock verify` in a container;
#  8. down      the project's containers, network and volumes removed; dockerd stopped if it
#               was started here. Images and build caches stay for the next run.
#
# Variables (all optional):
#   BASE_IMAGES=auto|official|debian   auto: official where available, else built from Debian
#   PYTHON_IMAGE, POSTGRES_IMAGE, NATS_IMAGE   the base images (defaults: the official ones)
#   DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR, PIP_INDEX_URL   mirrors for the Debian-built images
#   BUILD_CA_BUNDLE    a CA bundle pip trusts while building (default: PIP_CERT, SSL_CERT_FILE,
#                      or the system's bundle); it never reaches an image
#   COMPOSE            "docker compose" or "docker-compose" (default: whichever is here; Debian's
#                      docker-compose is installed when there is neither)
#   DOCKER_STORAGE_DRIVER   the driver(s) to try when dockerd is started here
#   COMPOSE_TEST_LOGS  where the logs go (default: a new directory under /tmp)
#   PYTHON_BIN         the venv's python that runs the tests (default .venv/bin/python)
#   E2E=0              skip phase 6 (to repeat the fault run alone)
#   FAULT_RUNS         how many fault runs, each on a fresh stack with its own seed (default 1)
#   COMPOSE_SEED       the seed of the (first) fault run (default: drawn)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_BIN=${PYTHON_BIN:-.venv/bin/python}
BASE_IMAGES=${BASE_IMAGES:-auto}
IMAGE=omnistock:local
PROJECT=omnistock-test-$$
COMPOSE_FILE_PATH=deploy/compose.yaml
LOGS=${COMPOSE_TEST_LOGS:-$(mktemp -d /tmp/omnistock-compose-test-XXXXXX)}
mkdir -p "$LOGS"
# The services, in start order, from their one table (omnistock_platform.services).
mapfile -t SERVICES < <("$PYTHON_BIN" -c 'from omnistock_platform.services import SERVICES; print(*SERVICES, sep="\n")')

dockerd_pid=""
project_up=""
timings=()
summary=()
phase_name=""
phase_began=0

say() { printf 'compose-test: %s\n' "$*"; }
note() { summary+=("$*"); say "$*"; }

begin() {
    phase_name=$1
    phase_began=$(date +%s)
    say "== $phase_name: $2"
}

end() {
    local seconds=$(($(date +%s) - phase_began))
    timings+=("$phase_name ${seconds}s")
}

fail() {
    say "FAILED in $phase_name: $*"
    say "logs: $LOGS"
    exit 1
}

show_tail() { [ -f "$1" ] && tail -n "${2:-40}" "$1" | sed 's/^/    /'; }

apt_updated=""
apt_install() {
    say "installing $* (Debian packages)"
    if [ -z "$apt_updated" ]; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq >>"$LOGS/apt.log" 2>&1 || { show_tail "$LOGS/apt.log"; return 1; }
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" \
        >>"$LOGS/apt.log" 2>&1 || { show_tail "$LOGS/apt.log"; return 1; }
}

compose() { $COMPOSE -f "$COMPOSE_FILE_PATH" -p "$PROJECT" "$@"; }

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$project_up" ]; then
        # Kept after a passing run too: an INTERNAL the fault run noted is explained by these.
        compose logs --no-color --timestamps >"$LOGS/containers.log" 2>&1 || true
        begin down "removing the project's containers, network and volumes"
        compose down --volumes --remove-orphans --timeout 20 >>"$LOGS/compose.log" 2>&1 \
            || say "compose down failed; see $LOGS/compose.log"
        end
    fi
    if [ -n "$dockerd_pid" ]; then
        say "stopping the Docker engine started here (pid $dockerd_pid)"
        kill -TERM "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
    fi
    if [ "${#timings[@]}" -gt 0 ]; then
        say "timings: ${timings[*]}"
    fi
    for line in "${summary[@]}"; do say "summary: $line"; done
    [ "$status" -eq 0 ] && say "passed (logs: $LOGS)" || say "failed (logs: $LOGS)"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- 1. engine

start_dockerd() {
    local driver=$1 pid_file="$LOGS/dockerd.pid" pid
    # A session of its own: Ctrl-C stops this script, which then removes the project and stops
    # dockerd in that order, instead of reaching dockerd first.
    setsid dockerd --storage-driver="$driver" --iptables=false --ip6tables=false --pidfile "$pid_file" \
        >>"$LOGS/dockerd.log" 2>&1 &
    for second in $(seq 60); do
        pid=$(cat "$pid_file" 2>/dev/null || true)
        if docker info >/dev/null 2>&1; then
            dockerd_pid=$pid
            [ "$(docker info --format '{{.Driver}}')" = "$driver" ] && return 0
            break
        fi
        if [ "$second" -gt 5 ] && { [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; }; then
            break # it gave up (dockerd.log says why)
        fi
        sleep 1
    done
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 1; done
    fi
    dockerd_pid=""
    return 1
}

begin engine "a Docker engine"
if docker info >/dev/null 2>&1; then
    say "using the engine that answers: $(docker info --format 'Docker {{.ServerVersion}}, storage {{.Driver}}')"
else
    command -v dockerd >/dev/null || apt_install docker.io || fail "cannot install docker.io"
    for driver in ${DOCKER_STORAGE_DRIVER:-overlay2 fuse-overlayfs vfs}; do
        if [ "$driver" = fuse-overlayfs ] && ! command -v fuse-overlayfs >/dev/null; then
            apt_install fuse-overlayfs || continue
        fi
        if start_dockerd "$driver"; then
            say "started dockerd (pid $dockerd_pid, storage driver $driver); it is stopped at the end"
            break
        fi
        say "dockerd does not run with the $driver storage driver here"
    done
    [ -n "$dockerd_pid" ] || { show_tail "$LOGS/dockerd.log"; fail "no storage driver worked"; }
fi
if [ -z "${COMPOSE:-}" ]; then
    if docker compose version >/dev/null 2>&1; then
        COMPOSE="docker compose"
    else
        command -v docker-compose >/dev/null || apt_install docker-compose || fail "cannot install docker-compose"
        COMPOSE=docker-compose
    fi
fi
say "compose: $COMPOSE ($($COMPOSE version --short 2>/dev/null || $COMPOSE version | head -1))"
end

# ---------------------------------------------------------------- 2. base images

declare -A official=([python]=python:3.11-slim [postgres]=postgres:16-alpine [nats]=nats:2.11-alpine)
declare -A chosen=([python]=${PYTHON_IMAGE:-${official[python]}} [postgres]=${POSTGRES_IMAGE:-${official[postgres]}}
    [nats]=${NATS_IMAGE:-${official[nats]}})
if [ -z "${BUILD_CA_BUNDLE:-}" ]; then
    for candidate in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
        if [ -n "$candidate" ] && [ -s "$candidate" ]; then
            BUILD_CA_BUNDLE=$candidate
            break
        fi
    done
fi
export BUILD_CA_BUNDLE

begin base "python, postgres and nats images (BASE_IMAGES=$BASE_IMAGES)"
from_debian=()
for kind in python postgres nats; do
    image=${chosen[$kind]}
    case "$BASE_IMAGES" in
        debian) from_debian+=("$kind") ;;
        official | auto)
            if docker image inspect "$image" >/dev/null 2>&1; then
                say "$kind: $image (already here)"
            elif timeout 300 docker pull -q "$image" >>"$LOGS/pull.log" 2>&1; then
                say "$kind: $image (pulled)"
            elif [ "$BASE_IMAGES" = auto ]; then
                say "$kind: $image cannot be pulled ($(tail -1 "$LOGS/pull.log" | cut -c1-100)); building it from Debian"
                from_debian+=("$kind")
            else
                fail "$image cannot be pulled (BASE_IMAGES=official)"
            fi
            ;;
        *) fail "BASE_IMAGES is auto, official or debian, not $BASE_IMAGES" ;;
    esac
done
if [ "${#from_debian[@]}" -gt 0 ]; then
    command -v debootstrap >/dev/null || apt_install debootstrap || fail "cannot install debootstrap"
    deploy/base-images/build.sh "${from_debian[@]}" >"$LOGS/base-images.log" 2>&1 \
        || { show_tail "$LOGS/base-images.log"; fail "building base images from Debian"; }
    for kind in "${from_debian[@]}"; do
        chosen[$kind]=$(sed -n "s/^${kind^^}_IMAGE=//p" "$LOGS/base-images.log" | tail -1)
        [ -n "${chosen[$kind]}" ] || fail "deploy/base-images/build.sh named no $kind image"
        say "$kind: ${chosen[$kind]} (built from Debian's packages)"
    done
fi
export PYTHON_IMAGE=${chosen[python]} POSTGRES_IMAGE=${chosen[postgres]} NATS_IMAGE=${chosen[nats]}
end

# ---------------------------------------------------------------- 3. build

begin build "the Omnistock image $IMAGE from deploy/Dockerfile on $PYTHON_IMAGE"
build_options=(--network host --progress plain --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
[ -n "$BUILD_CA_BUNDLE" ] && build_options+=(--secret "id=ca-bundle,src=$BUILD_CA_BUNDLE")
[ -n "${PIP_INDEX_URL:-}" ] && build_options+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
deploy/docker-build.sh "${build_options[@]}" -f deploy/Dockerfile -t "$IMAGE" . >"$LOGS/build.log" 2>&1 \
    || { show_tail "$LOGS/build.log"; fail "docker build"; }
say "built $IMAGE: $(docker image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}'),"\
    "$(docker image inspect "$IMAGE" --format '{{len .RootFS.Layers}}') layers"
end

# ---------------------------------------------------------------- 4. image hygiene

begin image "hygiene of $IMAGE"
"$PYTHON_BIN" -m pytest tests/deploy/compose/test_image.py -q --compose="$COMPOSE" \
    --compose-project="$PROJECT" --compose-image="$IMAGE" >"$LOGS/image.log" 2>&1 \
    || { show_tail "$LOGS/image.log" 60; fail "image hygiene"; }
note "image: $(grep -E '^[0-9]+ passed' "$LOGS/image.log" | tail -1)"
end

# ---------------------------------------------------------------- 5. up

# One free loopback port for PostgreSQL, NATS and each service (gRPC and Connect), so that a stack
# already running on the default ports (or another run of this script) is never in the way.
read -r -a ports <<<"$("$PYTHON_BIN" - "$((2 + 2 * ${#SERVICES[@]}))" <<'PORTS'
import socket
import sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
PORTS
)"
export POSTGRES_HOST_PORT=${ports[0]} NATS_HOST_PORT=${ports[1]}
for index in "${!SERVICES[@]}"; do
    export "${SERVICES[$index]^^}_HOST_PORT=${ports[$((index + 2))]}"
    export "${SERVICES[$index]^^}_CONNECT_HOST_PORT=${ports[$((index + 2 + ${#SERVICES[@]}))]}"
done
POSTGRES_PASSWORD=${POSTGRES_PASSWORD:-omnistock-local}
JWT_SECRET=${OMNISTOCK_JWT_SECRET:-compose-local-secret-never-use-in-production}

# "<status> <exit code> <health>", e.g. "running 0 healthy" or "exited 0 -".
container_state() {
    local id
    id=$(compose ps -a -q "$1" 2>/dev/null | head -1)
    [ -n "$id" ] || { echo "missing - -"; return 0; }
    docker inspect --format '{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}}' \
        "$id" 2>/dev/null || echo "missing - -"
}

bring_up() {
    project_up=1
    compose up -d --no-build >>"$LOGS/compose.log" 2>&1 || { show_tail "$LOGS/compose.log"; return 1; }
    local deadline=$(($(date +%s) + 300)) service status code health
    for service in "${SERVICES[@]}"; do
        while :; do
            read -r status code health <<<"$(container_state "$service")"
            [ "$health" = healthy ] && break
            [ "$(date +%s)" -lt "$deadline" ] || { say "$service: $status $code $health"; return 1; }
            sleep 1
        done
    done
    read -r status code health <<<"$(container_state migrate)"
    [ "$status $code" = "exited 0" ] || { say "migrate: $status $code"; return 1; }
}

begin up "PostgreSQL, NATS, the migration and ${SERVICES[*]} (project $PROJECT)"
bring_up || fail "the stack did not come up healthy"
note "containers started: $((3 + ${#SERVICES[@]})) (postgres and nats healthy, migrate exited 0, ${SERVICES[*]} healthy)"
compose ps >>"$LOGS/compose.log" 2>&1
end

# ---------------------------------------------------------------- 6. e2e

addresses=""
connect_urls=""
for service in "${SERVICES[@]}"; do
    port_variable=${service^^}_HOST_PORT
    addresses+="${addresses:+,}$service=127.0.0.1:${!port_variable}"
    port_variable=${service^^}_CONNECT_HOST_PORT
    connect_urls+="${connect_urls:+,}$service=http://127.0.0.1:${!port_variable}"
done
stack_env=(
    OMNISTOCK_E2E_ADDRESSES="$addresses"
    OMNISTOCK_E2E_CONNECT_URLS="$connect_urls"
    OMNISTOCK_E2E_RECEIVER_HOST=host.docker.internal
    DATABASE_URL="postgresql://omnistock:$POSTGRES_PASSWORD@127.0.0.1:$POSTGRES_HOST_PORT/omnistock"
    NATS_URL="nats://127.0.0.1:$NATS_HOST_PORT"
    OMNISTOCK_JWT_SECRET="$JWT_SECRET"
)

if [ "${E2E:-1}" != 0 ]; then
    begin e2e "the e2e suite and the README walk-through against the containers ($addresses)"
    env "${stack_env[@]}" "$PYTHON_BIN" -m pytest tests/e2e -q >"$LOGS/e2e.log" 2>&1 \
        || { show_tail "$LOGS/e2e.log" 60; fail "the e2e suite"; }
    note "e2e passed: $(grep -E '^[0-9]+ passed' "$LOGS/e2e.log" | tail -1) (tests/e2e, README walk-through included)"
    end
fi

# ---------------------------------------------------------------- 7. faults

for run in $(seq "${FAULT_RUNS:-1}"); do
    begin faults "run $run of ${FAULT_RUNS:-1}: a fresh stack, traffic, a killed service container, NATS killed, PostgreSQL restarted"
    compose down --volumes --remove-orphans --timeout 20 >>"$LOGS/compose.log" 2>&1 || fail "compose down"
    bring_up || fail "the fresh stack did not come up healthy"
    seed=${COMPOSE_SEED:+$((COMPOSE_SEED + run - 1))}
    env "${stack_env[@]}" "$PYTHON_BIN" -m pytest tests/deploy/compose/test_faults.py -q \
        --compose="$COMPOSE" --compose-project="$PROJECT" ${seed:+--compose-seed="$seed"} \
        >"$LOGS/faults-$run.log" 2>&1 || { show_tail "$LOGS/faults-$run.log" 80; fail "the fault run"; }
    note "$(grep -E '^faults injected:' "$LOGS/faults-$run.log" | tail -1)"
    grep -E '^chaos run seed=' "$LOGS/faults-$run.log" | tail -1 | sed 's/^/    /'
    compose exec -T inventory omnistock verify >"$LOGS/verify.log" 2>&1 \
        || { show_tail "$LOGS/verify.log"; fail "omnistock verify in the inventory container"; }
    note "omnistock verify (in the inventory container): $(grep -m1 -E 'invariant|violation' "$LOGS/verify.log")"
    end
done
