"""Running the README's shell blocks as written: each block between `<!-- name -->` and
`<!-- /name -->` is run line by line by bash against the test stack; `NAME=$(...)` lines keep their
value for the lines after them, as a shell would."""

from __future__ import annotations

import re
from pathlib import Path

from tests.integration.cli.support import Cli

README = Path(__file__).resolve().parents[2] / "README.md"
ASSIGNMENT = re.compile(r"^([A-Z_][A-Z0-9_]*)=\$\(.*\)$")


def block(name: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"<!-- {name} -->")
    end = text.index(f"<!-- /{name} -->", start)
    body = text[start:end]
    body = body[body.index("```sh") + len("```sh") : body.rindex("```")]
    return [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]


async def run_as_written(cli: Cli, lines: list[str], cwd: Path) -> dict[str, str]:
    variables: dict[str, str] = {}
    for line in lines:
        exports = "".join(f"export {name}={value!r}\n" for name, value in variables.items())
        assigned = ASSIGNMENT.match(line)
        script = exports + line + (f'\nprintf "%s" "${assigned.group(1)}"' if assigned else "")
        done = await cli.shell(script, cwd=cwd, timeout=90)
        assert done.returncode == 0, f"$ {line}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        if assigned:
            variables[assigned.group(1)] = done.stdout.strip()
    return variables
