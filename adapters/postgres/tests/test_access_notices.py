"""The access version on PostgreSQL: every store object on a schema hears every other's access
writes through NOTIFY, and a listener that lost its connection listens again and counts anew."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from deletion_requests_postgres import PostgresStore, open_postgres_store
from deletion_requests_postgres._notices import channel_for

from deletion_requests import Caller, DeletionService
from deletion_requests.stores import Account, App

from .conftest import SERVER, store_url

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether *condition* holds within *timeout* seconds (asked every 20 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    url = store_url(str(tmp_path))
    first = open_postgres_store(url)
    second = open_postgres_store(url)
    yield first, second
    first.close()
    second.close()


def test_another_objects_access_write_moves_the_version(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    writer, reader = pair
    before = reader.access_version()
    assert before is not None
    writer.allow_account(Account("acct-1", T0))
    assert eventually(lambda: reader.access_version() != before)
    moved = reader.access_version()
    reader.app_access("nobody")
    reader.list_apps()
    time.sleep(0.3)
    assert reader.access_version() == moved  # reads, its own or others', never move it


def test_a_revocation_on_one_server_is_seen_by_the_cached_access_of_another(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    admin_side, serving_side = pair
    admin_side.allow_account(Account("acct-1", T0))
    admin_side.add_app(App("app_1", "ab" * 32, frozenset({"acct-1"}), T0))
    service = DeletionService(serving_side)
    assert service.context.app("app_1")[1] == Caller("app_1", frozenset({"acct-1"}))
    assert service.context.app("app_1")[1] is not None  # now answered from the cache
    admin_side.revoke_app("app_1")
    assert eventually(lambda: service.context.app("app_1")[1] is None)


def test_a_lost_listener_listens_again_and_counts_anew(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    _, store = pair
    before = store.access_version()
    assert before is not None
    with psycopg.connect(SERVER, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = %s",
            (f'LISTEN "{channel_for(store.schema)}"',),
        ).fetchall()
    assert killed == [(True,)]  # the one listener: the other object never asked
    assert eventually(lambda: store.access_version() not in (before, None))
