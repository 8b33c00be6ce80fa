"""`AccessLines`: the access log's fields and formats as the logging configuration writes
them, the lines of one event-loop iteration written together when it ends."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from deletion_requests_http._logs import AccessLines


def test_lines_of_one_loop_iteration_are_written_when_it_ends(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = AccessLines("json")

    async def run() -> str:
        lines.add("rid-1", "POST", "/data/deletion-requests/emails", 202, 1.25, "app_1")
        lines.add("rid-2", "GET", "/data/deletion-requests", 200, 0.5, None)
        before = capsys.readouterr().err
        await asyncio.sleep(0)
        return before

    assert asyncio.run(run()) == ""
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert records[0] == {
        "level": "INFO",
        "logger": "deletion_requests.http.access",
        "request_id": "rid-1",
        "message": "POST /data/deletion-requests/emails 202 1.2 ms",
        "method": "POST",
        "path": "/data/deletion-requests/emails",
        "status": 202,
        "duration_ms": 1.25,
        "app_id": "app_1",
        "time": records[0]["time"],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", records[0]["time"])
    assert records[1]["app_id"] is None
    assert records[1]["request_id"] == "rid-2"


def test_text_lines_read_as_the_text_format_and_outside_a_loop_are_written_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    AccessLines("text").add("rid-1", "GET", "/healthz", 200, 0.25, None)
    line = capsys.readouterr().err
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO deletion_requests.http.access \[rid-1\] "
        r"GET /healthz 200 0.2 ms\n",
        line,
    )
