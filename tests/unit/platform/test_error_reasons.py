"""The table of error reasons in docs/errors.md is complete and true: generated from the code's error
classes (every class of every service, and the reasons each may carry), each reason is a row with the
gRPC code its class answers with, and no row names a reason the code does not have."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import grpc

from omnistock_platform import errors
from omnistock_platform.grpc.errors import code_of
from omnistock_platform.registry import installed_services, module_name

TABLE = Path(__file__).resolve().parents[3] / "docs" / "errors.md"
ROW = re.compile(r"^\| `(?P<reason>[A-Z_]+)` \| `(?P<code>[A-Z_]+)` \|", re.MULTILINE)
UPPER_SNAKE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")


def every_error_class() -> list[type[errors.OmnistockError]]:
    """OmnistockError and every subclass, once the platform and every service's modules are imported."""
    packages = ["omnistock_platform", *(module_name(service) for service in installed_services())]
    for package in packages:
        root = importlib.import_module(package)
        for found in pkgutil.walk_packages(root.__path__, f"{package}."):
            if ".migrations" not in found.name and ".testing" not in found.name:
                importlib.import_module(found.name)
    classes: list[type[errors.OmnistockError]] = []
    pending = [errors.OmnistockError]
    while pending:
        kind = pending.pop()
        classes.append(kind)
        pending.extend(kind.__subclasses__())
    return classes


def documented() -> dict[str, str]:
    return {match["reason"]: match["code"] for match in ROW.finditer(TABLE.read_text())}


def test_every_reason_of_every_error_class_is_in_the_table_with_its_code() -> None:
    table = documented()
    from_code: dict[str, set[str]] = {}
    for kind in every_error_class():
        if kind is errors.OmnistockError:
            continue
        assert kind.reasons, f"{kind.__module__}.{kind.__name__} carries no reason"
        for reason in kind.reasons:
            from_code.setdefault(reason, set()).add(code_of(kind).name)
    from_code[errors.Reason.INTERNAL_ERROR] = {grpc.StatusCode.INTERNAL.name}
    missing = sorted(set(from_code) - set(table))
    assert not missing, f"docs/errors.md lacks rows for {missing}"
    for reason, codes in from_code.items():
        assert codes == {table[reason]}, f"{reason}: the code answers {codes}, docs/errors.md says {table[reason]}"


def test_the_table_names_only_reasons_the_code_has() -> None:
    assert set(documented()) == {reason.value for reason in errors.Reason}


def test_reasons_are_upper_snake_and_every_one_is_used() -> None:
    used = {reason for kind in every_error_class() for reason in kind.reasons} | {errors.Reason.INTERNAL_ERROR}
    for reason in errors.Reason:
        assert UPPER_SNAKE.fullmatch(reason.value) and reason.name == reason.value
    assert used == set(errors.Reason), f"reasons no error class may carry: {set(errors.Reason) - used}"
