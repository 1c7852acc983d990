"""The webhooks process decodes every event of the catalogue, whichever service publishes it: in a
fresh interpreter (as `python -m omnistock_webhooks.entrypoints.main` runs), only what bootstrap
imports is known to the protobuf pool. The in-process test stack imports every service and would
not notice a missing one."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
from google.protobuf import descriptor_pool
from omnistock_platform.events.catalogue import read_catalogue
from omnistock_platform.grpc.reflection import contract_files
from omnistock_platform.settings import Settings
from omnistock_webhooks.entrypoints.main import bootstrap

bootstrap(Settings(database_url="postgresql://nobody@127.0.0.1:1/none", nats_url="nats://127.0.0.1:1"))
missing = []
for entry in read_catalogue(contract_files()).values():
    try:
        descriptor_pool.Default().FindMessageTypeByName(entry.payload)
    except KeyError:
        missing.append(entry.payload)
print(sorted(set(missing)))
"""


def test_every_catalogued_payload_is_known_to_a_fresh_webhooks_process() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
