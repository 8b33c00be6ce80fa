"""`AccessLines`: the access log's fields and formats as the logging configuration writes
them, the lines of one event-loop iteration written together when it ends."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from deletion_requests_http._logs import ECS_VERSION, AccessLines


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
        "@timestamp": records[0]["@timestamp"],
        "log.level": "INFO",
        "log.logger": "deletion_requests.http.access",
        "message": "POST /data/deletion-requests/emails 202 1.2 ms",
        "ecs.version": ECS_VERSION,
        "http.request.id": "rid-1",
        "http.request.method": "POST",
        "url.path": "/data/deletion-requests/emails",
        "http.response.status_code": 202,
        "event.duration": 1_250_000,
        "deletion_requests.app.id": "app_1",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", records[0]["@timestamp"])
    assert "deletion_requests.app.id" not in records[1]
    assert records[1]["http.request.id"] == "rid-2"


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
