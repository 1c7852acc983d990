"""The API contract in protos/: docs/api.md rendered from its comments, and the check that a change
breaks no client of what main had before.

    python -m omnistock_platform.contract docs       # write docs/api.md and docs/events.md (make docs)
    python -m omnistock_platform.contract breaking   # buf breaking against the base (make lint)

Only the standard library, protobuf and grpcio-tools: `make proto` runs this before the package is
installed.
"""

from __future__ import annotations

import argparse
import importlib.resources
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2

from omnistock_platform.events.catalogue import EVENTS_DOC, read_catalogue, render_events_doc

ROOT = Path(__file__).resolve().parents[2]
PROTOS = "protos"
API_DOC = Path("docs/api.md")
MAIN_BRANCHES = ("main", "origin/main")
OWN_PACKAGE = "omnistock."

# FileDescriptorProto / DescriptorProto / ServiceDescriptorProto field numbers: the paths of
# SourceCodeInfo locations are made of them.
FILE_MESSAGE, FILE_ENUM, FILE_SERVICE = 4, 5, 6
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM, MESSAGE_ONEOF = 2, 3, 4, 8
ENUM_VALUE = 2
SERVICE_METHOD = 2

SCALARS = {
    descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE: "double",
    descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT: "float",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT64: "int64",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT64: "uint64",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT32: "int32",
    descriptor_pb2.FieldDescriptorProto.TYPE_FIXED64: "fixed64",
    descriptor_pb2.FieldDescriptorProto.TYPE_FIXED32: "fixed32",
    descriptor_pb2.FieldDescriptorProto.TYPE_BOOL: "bool",
    descriptor_pb2.FieldDescriptorProto.TYPE_STRING: "string",
    descriptor_pb2.FieldDescriptorProto.TYPE_BYTES: "bytes",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT32: "uint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED32: "sfixed32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED64: "sfixed64",
    descriptor_pb2.FieldDescriptorProto.TYPE_SINT32: "sint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SINT64: "sint64",
}


def proto_files(root: Path = ROOT) -> list[str]:
    return sorted(str(path.relative_to(root / PROTOS)) for path in (root / PROTOS).rglob("*.proto"))


def descriptor_set(root: Path = ROOT) -> descriptor_pb2.FileDescriptorSet:
    """Compile protos/ with source info (the comments), as `make proto` does for gen/."""
    from grpc_tools import protoc

    well_known = importlib.resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "descriptors.binpb"
        status = protoc.main(
            [
                "protoc",
                f"-I{root / PROTOS}",
                f"-I{well_known}",
                f"--descriptor_set_out={out}",
                "--include_source_info",
                "--include_imports",
                *proto_files(root),
            ]
        )
        if status != 0:
            raise RuntimeError(f"protoc failed with status {status}")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


# ---- docs/api.md ---------------------------------------------------------------------------------


@dataclass
class _Comments:
    by_path: dict[tuple[int, ...], str]
    lines: dict[tuple[int, ...], int]

    @classmethod
    def of(cls, file: descriptor_pb2.FileDescriptorProto) -> _Comments:
        by_path = {}
        lines = {tuple(location.path): location.span[0] for location in file.source_code_info.location}
        for location in file.source_code_info.location:
            text = "\n".join(part for part in (location.leading_comments, location.trailing_comments) if part)
            if text.strip():
                by_path[tuple(location.path)] = _dedent(text)
        return cls(by_path, lines)

    def line(self, *path: int) -> int:
        return self.lines.get(path, 0)

    def at(self, *path: int) -> str:
        return self.by_path.get(path, "")


def _dedent(comment: str) -> str:
    lines = [line[1:] if line.startswith(" ") else line for line in comment.strip("\n").split("\n")]
    return "\n".join(line.rstrip() for line in lines).strip()


def _cell(comment: str) -> str:
    """A comment in one table cell: paragraphs kept apart, pipes escaped."""
    paragraphs = [" ".join(part.split()) for part in re.split(r"\n\s*\n", comment)]
    return "<br><br>".join(p for p in paragraphs if p).replace("|", "\\|")


def _anchor(full_name: str) -> str:
    return full_name.lstrip(".").replace(".", "-").lower()


class _Renderer:
    def __init__(self, files: list[descriptor_pb2.FileDescriptorProto]) -> None:
        self.files = files
        self.documented: set[str] = set()
        self.map_entries: dict[str, descriptor_pb2.DescriptorProto] = {}
        for file in files:
            for name, message in _messages(file.message_type, f".{file.package}"):
                self.documented.add(name)
                if message.options.map_entry:
                    self.map_entries[name] = message
            for enum in file.enum_type:
                self.documented.add(f".{file.package}.{enum.name}")
            for name, message in _messages(file.message_type, f".{file.package}"):
                for enum in message.enum_type:
                    self.documented.add(f"{name}.{enum.name}")

    def type_link(self, type_name: str, package: str) -> str:
        shown = type_name.lstrip(".")
        if shown.startswith(f"{package}."):
            shown = shown[len(package) + 1 :]
        if type_name in self.documented:
            return f"[{shown}](#{_anchor(type_name)})"
        return f"`{shown}`"

    def field_type(self, field: descriptor_pb2.FieldDescriptorProto, package: str) -> str:
        if field.type_name in self.map_entries:
            key, value = self.map_entries[field.type_name].field
            return f"map<{self.field_type(key, package)}, {self.field_type(value, package)}>"
        shown = self.type_link(field.type_name, package) if field.type_name else SCALARS[field.type]
        if field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED:
            return f"repeated {shown}"
        if field.proto3_optional:
            return f"optional {shown}"
        return shown

    def render(self) -> str:
        out = [
            "# Omnistock API reference",
            "",
            "Generated from the comments in `protos/` by `make docs` (which `make proto` runs): do not edit"
            " by hand. How to document a new RPC: [conventions](conventions.md#documenting-the-contract).",
            "The same comments are served by gRPC server reflection (`grpcurl describe`).",
            "",
            "## Services",
            "",
        ]
        for file in self.files:
            for service in file.service:
                full = f".{file.package}.{service.name}"
                out.append(f"- [{file.package}.{service.name}](#{_anchor(full)}) (`{file.name}`)")
        out.append("")
        for file in self.files:
            out.extend(self.render_file(file))
        return "\n".join(out).rstrip("\n") + "\n"

    def render_file(self, file: descriptor_pb2.FileDescriptorProto) -> Iterator[str]:
        comments = _Comments.of(file)
        package = file.package
        yield f"## `{package}`"
        yield ""
        yield f"File `protos/{file.name}`."
        yield ""
        for index, service in enumerate(file.service):
            yield from self.render_service(service, package, comments, (FILE_SERVICE, index))
        # Messages and enums in the order the file has them: an enum stays next to what uses it.
        types = [(comments.line(FILE_MESSAGE, index), FILE_MESSAGE, index) for index in range(len(file.message_type))]
        types += [(comments.line(FILE_ENUM, index), FILE_ENUM, index) for index in range(len(file.enum_type))]
        for _, kind, index in sorted(types):
            if kind == FILE_MESSAGE:
                message = file.message_type[index]
                yield from self.render_message(message, f".{package}", package, comments, (FILE_MESSAGE, index))
            else:
                enum = file.enum_type[index]
                yield from self.render_enum(enum, f".{package}", package, comments, (FILE_ENUM, index))

    def render_service(
        self,
        service: descriptor_pb2.ServiceDescriptorProto,
        package: str,
        comments: _Comments,
        path: tuple[int, ...],
    ) -> Iterator[str]:
        full = f".{package}.{service.name}"
        yield f'<a name="{_anchor(full)}"></a>'
        yield f"### service {service.name}"
        yield ""
        if text := comments.at(*path):
            yield text
            yield ""
        for index, method in enumerate(service.method):
            request = self.type_link(method.input_type, package)
            response = self.type_link(method.output_type, package)
            if method.client_streaming:
                request = f"stream {request}"
            if method.server_streaming:
                response = f"stream {response}"
            yield f'<a name="{_anchor(full + "." + method.name)}"></a>'
            yield f"#### {service.name}.{method.name}"
            yield ""
            yield f"{request} → {response}"
            yield ""
            if text := comments.at(*path, SERVICE_METHOD, index):
                yield text
                yield ""

    def render_message(
        self,
        message: descriptor_pb2.DescriptorProto,
        scope: str,
        package: str,
        comments: _Comments,
        path: tuple[int, ...],
    ) -> Iterator[str]:
        if message.options.map_entry:
            return
        full = f"{scope}.{message.name}"
        yield f'<a name="{_anchor(full)}"></a>'
        yield f"### message {full[len(package) + 2 :]}"
        yield ""
        if text := comments.at(*path):
            yield text
            yield ""
        if message.field:
            yield "| field | number | type | description |"
            yield "| --- | --- | --- | --- |"
            for index, field in enumerate(message.field):
                text = comments.at(*path, MESSAGE_FIELD, index)
                if field.HasField("oneof_index") and not field.proto3_optional:
                    oneof = message.oneof_decl[field.oneof_index].name
                    text = f"One of `{oneof}`. {text}".strip()
                shown = self.field_type(field, package)
                yield f"| `{field.name}` | {field.number} | {shown} | {_cell(text)} |"
            yield ""
        for index, oneof_decl in enumerate(message.oneof_decl):
            members = [f for f in message.field if f.HasField("oneof_index") and f.oneof_index == index]
            if members and not members[0].proto3_optional:  # an `optional` field's synthetic oneof is no choice
                names = ", ".join(f"`{f.name}`" for f in members)
                yield f"`{oneof_decl.name}` is one of {names}: {_cell(comments.at(*path, MESSAGE_ONEOF, index))}"
                yield ""
        for index, nested in enumerate(message.nested_type):
            yield from self.render_message(nested, full, package, comments, (*path, MESSAGE_NESTED, index))
        for index, enum in enumerate(message.enum_type):
            yield from self.render_enum(enum, full, package, comments, (*path, MESSAGE_ENUM, index))

    def render_enum(
        self,
        enum: descriptor_pb2.EnumDescriptorProto,
        scope: str,
        package: str,
        comments: _Comments,
        path: tuple[int, ...],
    ) -> Iterator[str]:
        full = f"{scope}.{enum.name}"
        yield f'<a name="{_anchor(full)}"></a>'
        yield f"### enum {full[len(package) + 2 :]}"
        yield ""
        if text := comments.at(*path):
            yield text
            yield ""
        yield "| value | number | description |"
        yield "| --- | --- | --- |"
        for index, value in enumerate(enum.value):
            yield f"| `{value.name}` | {value.number} | {_cell(comments.at(*path, ENUM_VALUE, index))} |"
        yield ""


def _messages(
    messages: Iterable[descriptor_pb2.DescriptorProto], scope: str
) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto]]:
    for message in messages:
        name = f"{scope}.{message.name}"
        yield name, message
        yield from _messages(message.nested_type, name)


def render_api_doc(files: descriptor_pb2.FileDescriptorSet) -> str:
    """docs/api.md: every service, RPC, message, field and enum value of the contract, with its comment."""
    own = [file for file in files.file if file.package.startswith(OWN_PACKAGE)]
    order = {name: index for index, name in enumerate(sorted(file.name for file in own))}
    # common first (everything refers to it), then the services in name order.
    own.sort(key=lambda file: (not file.package.startswith("omnistock.common."), order[file.name]))
    return _Renderer(own).render()


# ---- buf breaking --------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> str | None:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def base_ref(root: Path = ROOT) -> str | None:
    """The commit whose contract this one must not break: on a branch, the commit of main it builds
    on (the merge base), so every change the branch makes is checked; on main itself, the previous
    commit of main (the first parent). None when there is none (the first commit)."""
    head = _git(root, "rev-parse", "HEAD")
    if head is None:
        raise RuntimeError(f"{root} is not a git checkout with a commit")
    for main in MAIN_BRANCHES:
        if _git(root, "rev-parse", "--verify", "--quiet", f"{main}^{{commit}}") is None:
            continue
        fork = _git(root, "merge-base", "HEAD", main)
        if fork is not None and fork != head:
            return fork
        break
    parent = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^1^{commit}")
    if parent is None and _git(root, "rev-parse", "--is-shallow-repository") == "true":
        raise RuntimeError("the clone is shallow: the previous commit is missing (git fetch --unshallow)")
    return parent


def buf() -> str:
    found = shutil.which("buf", path=str(Path(sys.executable).parent)) or shutil.which("buf")
    if found is None:
        raise RuntimeError("buf is not installed: it comes with the dev extra (pip install -e '.[dev]')")
    return found


def breaking(root: Path = ROOT, against: str | None = None) -> int:
    """Run `buf breaking` on protos/ against the protos of `against` (default: base_ref()).
    The old protos are taken out of git whole, so it works the same in a clone, a worktree, or on a
    commit from before protos/buf.yaml existed (buf then reads the old files with default settings)."""
    ref = against or base_ref(root)
    if ref is None:
        print("buf breaking: no previous commit, nothing to compare with")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "base.tar"
        listed = _git(root, "ls-tree", "-d", "--name-only", ref, PROTOS)
        if listed is None:
            raise RuntimeError(f"cannot read {ref} from git")
        if not listed:
            print(f"buf breaking: {ref} has no {PROTOS}/, nothing to compare with")
            return 0
        with archive.open("wb") as out:
            subprocess.run(["git", "archive", "--format=tar", ref, PROTOS], cwd=root, stdout=out, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(scratch, filter="data")
        old = Path(scratch) / PROTOS
        print(f"buf breaking: {PROTOS}/ against {ref[:12]}")
        return subprocess.run([buf(), "breaking", PROTOS, "--against", str(old)], cwd=root, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m omnistock_platform.contract")
    commands = parser.add_subparsers(dest="command", required=True)
    docs = commands.add_parser("docs", help="write docs/api.md and docs/events.md from protos/")
    docs.add_argument("--output", type=Path, default=ROOT / API_DOC)
    docs.add_argument("--events-output", type=Path, default=ROOT / EVENTS_DOC)
    check = commands.add_parser("breaking", help="buf breaking against the previous contract")
    check.add_argument("--against", help="a git ref (default: the merge base with main, or HEAD~1 on main)")
    args = parser.parse_args(argv)
    if args.command == "docs":
        files = descriptor_set()
        args.output.write_text(render_api_doc(files))
        args.events_output.write_text(render_events_doc(read_catalogue(files.file)))
        return 0
    return breaking(against=args.against)


if __name__ == "__main__":
    sys.exit(main())
