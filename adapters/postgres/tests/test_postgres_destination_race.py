"""An add that waits for a destination and that destination's removal, at the same moment on
PostgreSQL: the add's check holds the waited-for row (`FOR SHARE`), so whichever commits first,
no destination is left waiting for one that is gone."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import psycopg
from deletion_requests_postgres import PostgresStore
from psycopg import sql

from deletion_requests import Destination, InvalidRequest, Mode, open_store
from deletion_requests._access import digest_secret

from .conftest import SERVER, schema_for, store_url

AT = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def pull(name: str, waits_for: frozenset[str] = frozenset()) -> Destination:
    return Destination(
        name, Mode.PULL, AT, credential_digest=digest_secret(name), waits_for=waits_for
    )


def test_an_add_that_waits_for_a_destination_being_removed_is_refused(tmp_path: Path) -> None:
    store = open_store(store_url(str(tmp_path)))
    assert isinstance(store, PostgresStore)
    refused: list[BaseException] = []
    try:
        store.add_destination(pull("warehouse"))
        with psycopg.connect(SERVER) as removal:
            # A removal that has locked its row and not yet committed (as `remove_destination`
            # does between its `FOR UPDATE` and its commit).
            table = sql.Identifier(schema_for(str(tmp_path)), "destinations")
            query = sql.SQL("SELECT 1 FROM {} WHERE name = 'warehouse' FOR UPDATE")
            removal.execute(query.format(table))

            def add() -> None:
                try:
                    store.add_destination(pull("backups", frozenset({"warehouse"})))
                except BaseException as exc:  # noqa: BLE001 (handed to the test's thread)
                    refused.append(exc)

            adding = threading.Thread(target=add)
            adding.start()
            adding.join(1.0)
            assert adding.is_alive(), "the add did not wait for the removal's lock"
            removal.execute(sql.SQL("DELETE FROM {} WHERE name = 'warehouse'").format(table))
            removal.commit()
            adding.join(10)
        assert not adding.is_alive()
        assert len(refused) == 1, refused
        assert isinstance(refused[0], InvalidRequest), refused
        assert "unknown destination(s): warehouse" in str(refused[0])
        assert store.list_destinations() == []
    finally:
        store.close()
