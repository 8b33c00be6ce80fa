"""A store whose disk is read-only or full: `/healthz` and creates answer 503 with
`Retry-After` in the envelope, and both recover without a restart once the disk takes writes
again; `serve` does not start on a store that cannot take a write, and says why.

The store lives on the FUSE file system of `deletion_requests.testing._power`, switched to
refuse every change with `EROFS` (read-only) or `ENOSPC` (full): the tests run as root, for
whom permission bits refuse nothing, and a mount cannot be made read-only while a server has
its files open. Where FUSE cannot run the tests skip, saying why; in CI they fail.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deletion_requests_http.testing import bootstrapped, free_port
from starlette.testclient import TestClient

from deletion_requests import AccessAdmin, ManualClock, open_store
from deletion_requests.testing._power import LossyMount, fuse_unavailable

from .test_power_loss import unavailable

CREATE = "/data/deletion-requests/emails"
BODY = {"accountId": "acct-1", "rawEmails": ["person@example.com"]}
KEY = "k" * 48
PROBE_INTERVAL = 1.0  # DiskProbe's: a passed check is trusted this long
STORES = ["sqlite:///{}/tasks.db", "jsonfiles:///{}/store"]
CODES = {"read-only": errno.EROFS, "full": errno.ENOSPC}


@pytest.fixture
def disk() -> Iterator[LossyMount]:
    reason = fuse_unavailable()
    if reason is not None:
        unavailable(reason)
    place = Path(tempfile.mkdtemp(prefix="cannot-write-"))
    mount = LossyMount(place / "disk", place / "disk.state", place / "fuse.log")
    try:
        try:
            mount.start()
        except RuntimeError as exc:
            unavailable(f"FUSE does not mount here: {exc}")
        yield mount
    finally:
        mount.close()
        shutil.rmtree(place, ignore_errors=True)


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["error"] == "SERVICE_UNAVAILABLE"
    assert int(response.headers["retry-after"]) > 0


@pytest.mark.parametrize("store", STORES, ids=["sqlite", "jsonfiles"])
@pytest.mark.parametrize("state", list(CODES))
def test_a_disk_that_stops_taking_writes_is_503_and_recovers(
    disk: LossyMount, store: str, state: str
) -> None:
    url = store.format(disk.mountpoint)
    application = bootstrapped(url, clock=ManualClock(), signing_key=KEY)
    try:
        application.admin.allow_account("acct-1")
        app, secret = application.admin.create_app(["acct-1"])
        auth = (app.app_id, secret)
        client = TestClient(application.http(), raise_server_exceptions=False)
        assert client.post(CREATE, json=BODY, auth=auth).status_code == 202
        assert client.get("/healthz").status_code == 200
        disk.refuse(CODES[state])
        time.sleep(PROBE_INTERVAL)  # past the last passed check
        assert_unavailable(client.get("/healthz"))
        assert_unavailable(client.post(CREATE, json=BODY, auth=auth))
        assert_unavailable(client.get("/healthz"))
        disk.refuse(0)
        assert client.get("/healthz").status_code == 200
        created = client.post(CREATE, json=BODY, auth=auth)
        assert created.status_code == 202, created.text
        task_id = created.json()["taskId"]
        assert client.get(f"/data/deletion-requests/{task_id}", auth=auth).status_code == 200
    finally:
        disk.refuse(0)
        application.close()


@pytest.mark.parametrize("store", STORES, ids=["sqlite", "jsonfiles"])
@pytest.mark.parametrize("state", list(CODES))
def test_serve_does_not_start_on_a_store_that_cannot_take_a_write(
    disk: LossyMount, store: str, state: str
) -> None:
    url = store.format(disk.mountpoint)
    with open_store(url) as made:
        AccessAdmin(made).allow_account("acct-1")
    disk.refuse(CODES[state])
    serve = [sys.executable, "-m", "deletion_requests_http", "serve", "--store", url]
    environment = {**os.environ, "DELETION_REQUESTS_SIGNING_KEY": KEY}
    finished = subprocess.run(
        [*serve, "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        start_new_session=True,
    )
    assert finished.returncode == 1, finished.stdout + finished.stderr
    assert finished.stderr.startswith("Error: "), finished.stderr  # one clear line
    assert str(disk.mountpoint) in finished.stderr  # naming the store
    assert "Traceback" not in finished.stderr
