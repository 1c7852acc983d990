"""The contract is documented and stays compatible: buf lint (STANDARD and COMMENTS), buf breaking
against the commit it builds on, and docs/api.md rendered from the current comments."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from omnistock_platform.contract import API_DOC, ROOT, base_ref, breaking, buf, descriptor_set, render_api_doc

COMMON = Path("protos/omnistock/common/v1/common.proto")


def test_buf_lint_passes_with_standard_and_comments_rules() -> None:
    config = (ROOT / "protos/buf.yaml").read_text()
    assert "STANDARD" in config and "COMMENTS" in config
    done = subprocess.run([buf(), "lint"], cwd=ROOT / "protos", capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_contract_breaks_nothing_since_the_commit_it_builds_on() -> None:
    assert breaking(ROOT) == 0


def test_api_doc_is_current() -> None:
    rendered = render_api_doc(descriptor_set())
    assert (ROOT / API_DOC).read_text() == rendered, "docs/api.md is not current: run `make docs`"


def test_api_doc_has_every_rpc_field_and_value_with_its_comment() -> None:
    files = [file for file in descriptor_set().file if file.package.startswith("omnistock.")]
    doc = render_api_doc(descriptor_set())
    for file in files:
        for service in file.service:
            for method in service.method:
                assert f"#### {service.name}.{method.name}\n" in doc
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    fields = sum(len(message.field) for file in files for message in file.message_type)
    values = sum(len(enum.value) for file in files for enum in file.enum_type)
    assert len(rows) >= fields + values
    undocumented = [row for row in rows if not re.split(r"(?<!\\)\|", row)[-2].strip()]
    assert not undocumented, undocumented[:5]
    row = next(line for line in doc.splitlines() if line.startswith("| `latitude` | 1 | double |"))
    assert "-90 to 90" in row  # the comment of GeoPoint.latitude in common.proto


# ---- which commit `buf breaking` compares with -------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose first commit has the protos without buf.yaml, as main had before."""
    git(tmp_path, "init", "-q", "-b", "main")
    shutil.copytree(ROOT / "protos", tmp_path / "protos", ignore=shutil.ignore_patterns("buf.yaml"))
    commit(tmp_path, "protos without buf.yaml")
    return tmp_path


def test_on_main_the_base_is_the_previous_commit_and_on_a_branch_the_fork_point(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    assert base_ref(repo) is None  # the first commit has nothing before it
    (repo / "README.md").write_text("x\n")
    second = commit(repo, "second")
    assert base_ref(repo) == first
    git(repo, "checkout", "-q", "-b", "feature")
    assert base_ref(repo) == first  # nothing of its own yet: the same as main
    (repo / "a.txt").write_text("a\n")
    commit(repo, "one")
    (repo / "b.txt").write_text("b\n")
    commit(repo, "two")
    assert base_ref(repo) == second, "a branch is compared with the main it builds on, all its commits included"
    git(repo, "checkout", "-q", "main")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "merge", "-q", "--no-ff", "-m", "m", "feature")
    assert base_ref(repo) == second, "after the merge, main compares with its previous commit"


def test_breaking_reads_a_base_without_buf_yaml_and_finds_a_break(repo: Path) -> None:
    shutil.copy(ROOT / "protos/buf.yaml", repo / "protos/buf.yaml")
    commit(repo, "buf.yaml")
    assert breaking(repo) == 0
    common = repo / COMMON
    common.write_text(common.read_text().replace("double latitude = 1;", "double lat = 1;"))
    assert breaking(repo) != 0, "renaming a field breaks JSON clients and the generated code"
    common.write_text(common.read_text().replace("double lat = 1;", "float latitude = 1;"))
    assert breaking(repo) != 0, "changing a field's type breaks the wire format"


def test_a_base_from_before_the_protos_existed_has_nothing_to_break(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "README.md").write_text("x\n")
    commit(tmp_path, "first")
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    commit(tmp_path, "protos")
    assert breaking(tmp_path) == 0


def field_comment(message: str, field: str) -> str:
    """The comment of `message`.`field` (full message name) in the protos, as the docs render it."""
    for file in descriptor_set().file:
        for index, found in enumerate(file.message_type):
            if f"{file.package}.{found.name}" != message:
                continue
            number = next(i for i, candidate in enumerate(found.field) if candidate.name == field)
            path = [4, index, 2, number]
            (location,) = [loc for loc in file.source_code_info.location if list(loc.path) == path]
            return " ".join(location.leading_comments.split())
    raise LookupError(message)


def test_the_sku_search_text_is_documented_as_it_searches() -> None:
    """ListSkus looks for every word on its own, in the code, the title or an attribute value, and
    takes % and _ as typed (tests/integration/inventory/test_catalogue_and_ledger.py): the contract
    says so, not the substring search of code or title it once was."""
    comment = field_comment("omnistock.inventory.v1.ListSkusRequest", "text")
    assert "every word" in comment
    assert all(place in comment for place in ("code", "title", "attribute value"))
    assert "% and _ are taken literally" in comment
    assert "Part of the code or the title" not in comment
