"""A PostgreSQL server that stops taking writes (a standby after a failover, read-only
transactions by default) fails the store's `check`, and passes it again once it takes writes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from deletion_requests import StoreError, open_store

from .conftest import SERVER


@pytest.fixture
def database() -> Iterator[str]:
    """A database of its own (its settings change here), dropped afterwards."""
    name = f"dr_ro_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            ending = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
            conn.execute(ending, (name,))
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def read_only(name: str, on: bool) -> None:
    """Make *name*'s new sessions read-only (or not), and end its open ones."""
    with psycopg.connect(SERVER, autocommit=True) as conn:
        setting = "SET default_transaction_read_only = on" if on else "RESET ALL"
        conn.execute(sql.SQL("ALTER DATABASE {} ").format(sql.Identifier(name)) + sql.SQL(setting))
        ending = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
        conn.execute(ending, (name,))


def test_a_server_that_takes_no_writes_fails_the_check_until_it_does(database: str) -> None:
    parts = urlsplit(SERVER)
    url = urlunsplit(parts._replace(path=f"/{database}"))
    with open_store(url) as store:
        store.check()
        read_only(database, True)
        with pytest.raises(StoreError, match="read-only"):
            store.check()
        read_only(database, False)
        store.check()
