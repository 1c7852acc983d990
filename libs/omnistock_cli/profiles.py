"""Profiles: where a deployment's services are and how to call them, kept in one file instead
of a pile of OMNISTOCK_* variables, and chosen with `--profile NAME` or OMNISTOCK_PROFILE.

    # ~/.config/omnistock/config.toml (or the file OMNISTOCK_CONFIG names)
    default = "production"                     # used when no profile is chosen

    [profiles.production]
    gateway = "omnistock.example.com:443"      # one address for every service
    tls_ca_file = "ca.pem"                     # relative to this file
    token_command = "vault kv get -field=token secret/omnistock/cli"

    [profiles.staging]
    addresses = { inventory = "inventory.staging:50051", orders = "orders.staging:50053" }
    token = "eyJhbGciOi..."

A profile's values win over the environment's (choosing a profile is explicit); what a profile
does not set comes from the environment as usual. Its token (or the token its command prints,
asked once per command) is what commands call with, unless `--token` or `--role` says otherwise."""

from __future__ import annotations

import os
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from omnistock_platform.services import SERVICES

CONFIG_ENV = "OMNISTOCK_CONFIG"
PROFILE_ENV = "OMNISTOCK_PROFILE"
TOKEN_COMMAND_TIMEOUT = 30.0


class ProfileError(Exception):
    """A profile that cannot be used; the message says which file, profile and field, and why."""


def config_path() -> Path:
    """OMNISTOCK_CONFIG, else $XDG_CONFIG_HOME/omnistock/config.toml (~/.config by default)."""
    given = os.environ.get(CONFIG_ENV, "").strip()
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
    return Path(base).expanduser() / "omnistock" / "config.toml"


class Addresses(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inventory: str = ""
    reservations: str = ""
    orders: str = ""
    fulfilment: str = ""
    insights: str = ""
    webhooks: str = ""


class ProfileData(BaseModel):
    """One `[profiles.NAME]` table."""

    model_config = ConfigDict(extra="forbid")

    gateway: str = Field("", description="host:port that serves every service (a gRPC gateway or load balancer)")
    addresses: Addresses = Field(default_factory=Addresses)
    tls_ca_file: Path | None = None
    tls_client_cert_file: Path | None = None
    tls_client_key_file: Path | None = None
    token: str = ""
    token_command: str = ""
    jwt_secret_file: Path | None = Field(None, description="a file holding the secret `--role` signs tokens with")


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: str = ""
    profiles: dict[str, ProfileData] = Field(default_factory=dict)


@dataclass
class Profile:
    name: str
    path: Path
    data: ProfileData
    _token: str | None = field(default=None, repr=False)

    def _file(self, value: Path | None) -> Path | None:
        if value is None:
            return None
        resolved = value.expanduser()
        return resolved if resolved.is_absolute() else (self.path.parent / resolved).resolve()

    def settings_overrides(self) -> dict[str, Any]:
        """What the profile sets, as Settings fields."""
        data = self.data
        overrides: dict[str, Any] = {}
        for service in SERVICES:
            address = getattr(data.addresses, service) or data.gateway
            if address:
                overrides[f"{service}_address"] = address
        for name in ("tls_ca_file", "tls_client_cert_file", "tls_client_key_file"):
            path = self._file(getattr(data, name))
            if path is not None:
                if not path.is_file():
                    raise ProfileError(f"profile {self.name!r} in {self.path}: {name} {path} is not a file")
                overrides[name] = path
        secret_file = self._file(data.jwt_secret_file)
        if secret_file is not None:
            try:
                overrides["jwt_secret"] = secret_file.read_text().strip()
            except OSError as error:
                raise ProfileError(f"profile {self.name!r} in {self.path}: jwt_secret_file: {error}") from None
        return overrides

    def bearer(self) -> str:
        """The profile's token ("" when it has none); a token command runs once per process."""
        if self._token is None:
            self._token = self.data.token.strip() or (self._run_token_command() if self.data.token_command else "")
        return self._token

    def _run_token_command(self) -> str:
        command = self.data.token_command
        where = f"profile {self.name!r} in {self.path}: token_command {shlex.quote(command)}"
        try:
            done = subprocess.run(
                command, shell=True, capture_output=True, text=True, timeout=TOKEN_COMMAND_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise ProfileError(f"{where} did not finish within {TOKEN_COMMAND_TIMEOUT:g} s") from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise ProfileError(f"{where} exited with {done.returncode}" + (f": {said[-1]}" if said else ""))
        token = done.stdout.strip()
        if not token or len(token.split()) != 1:
            raise ProfileError(f"{where} must print one token and nothing else")
        return token

    def describe(self) -> dict[str, Any]:
        """What the profile sets, without secrets: for `omnistock profiles`."""
        data = self.data
        addresses = {service: getattr(data.addresses, service) or data.gateway for service in SERVICES}
        token = "token" if data.token else "token_command" if data.token_command else ""
        return {
            "name": self.name,
            "addresses": {service: address for service, address in addresses.items() if address},
            "tls_ca_file": str(self._file(data.tls_ca_file) or ""),
            "tls_client_cert_file": str(self._file(data.tls_client_cert_file) or ""),
            "token": token,
            "signs_tokens": data.jwt_secret_file is not None,
        }


def read_config(path: Path) -> ConfigFile:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"there is no configuration file at {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileError(f"cannot read {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(f"{path} is not valid TOML: {error}") from None
    try:
        return ConfigFile.model_validate(raw)
    except pydantic.ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}" for problem in error.errors()
        )
        raise ProfileError(f"{path}: {problems}") from None


def select(name: str | None) -> Profile | None:
    """The profile named (by --profile or OMNISTOCK_PROFILE), else the file's default, else None."""
    path = config_path()
    chosen = (name or "").strip()
    if not chosen and not path.is_file():
        return None
    config = read_config(path)
    chosen = chosen or config.default
    if not chosen:
        return None
    if chosen not in config.profiles:
        known = ", ".join(sorted(config.profiles)) or "none"
        raise ProfileError(f"no profile {chosen!r} in {path} (profiles there: {known})")
    return Profile(chosen, path, config.profiles[chosen])


# The profile of the command being run, set by the `--profile` option of `omnistock`.
_active: Profile | None = None


def activate(profile: Profile | None) -> None:
    global _active
    _active = profile


def active() -> Profile | None:
    return _active
