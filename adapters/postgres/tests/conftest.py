"""A PostgreSQL server for the tests: $DELETION_REQUESTS_TEST_POSTGRES, or the local default.

Each store gets its own schema, dropped after the session. Without a server the tests skip,
saying how to point them at one, except in CI (CI=true), where a missing server is a failure.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

SERVER = os.environ.get(
    "DELETION_REQUESTS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
RUN = hashlib.sha256(f"{os.getpid()}".encode()).hexdigest()[:6]
_created: set[str] = set()


def schema_for(key: str) -> str:
    """A schema name unique to this test run and *key* (a tmp directory, say)."""
    name = f"dr_{RUN}_{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    _created.add(name)
    return name


def store_url(key: str) -> str:
    separator = "&" if "?" in SERVER else "?"
    return f"{SERVER}{separator}schema={schema_for(key)}"


def _reachable() -> str | None:
    try:
        with psycopg.connect(SERVER, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


@pytest.fixture(scope="session", autouse=True)
def postgres() -> Iterator[None]:
    problem = _reachable()
    if problem is not None:
        message = (
            f"no PostgreSQL at {SERVER} ({problem}); set DELETION_REQUESTS_TEST_POSTGRES to a "
            "postgresql:// URL of a server where the tests may create schemas"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield
    with psycopg.connect(SERVER, autocommit=True) as conn:
        for name in _created:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
