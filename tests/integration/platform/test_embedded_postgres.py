"""The embedded PostgreSQL (`make run`, and tests without DATABASE_URL) accepts the connections six
services, their relays and listeners, and a test run's stacks need at once: more than initdb's 100."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from omnistock_platform.embedded import MAX_CONNECTIONS, EmbeddedPostgres


def test_the_embedded_postgres_accepts_enough_connections_from_its_first_start_on() -> None:
    # Not under pytest's temp folder, which is owner-only: PostgreSQL runs as its own user.
    data_dir = Path(tempfile.mkdtemp(prefix="omnistock-pg-connections-"))
    try:
        for _ in range(2):  # the first start raises it, a later one finds it raised
            postgres = EmbeddedPostgres(data_dir)
            postgres.start()
            try:
                assert postgres.max_connections() == MAX_CONNECTIONS > 100
            finally:
                postgres.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
