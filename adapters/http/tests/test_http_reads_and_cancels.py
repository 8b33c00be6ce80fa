"""Reading and cancelling tasks: paging and filters of the list, bad queries, a task with its
history, overdue and held tasks, tenant isolation, and cancels (idempotent before the
deadline, the 410 envelope from it on, for any age and clock)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deletion_requests import Operators

from .conftest import DAY, T0, TASKS, World, assert_error, encode_cursor_text


def test_list_is_a_bare_array_newest_first_with_link_paging(world: World) -> None:
    ids = []
    for _ in range(5):
        ids.append(world.create(world.a)["taskId"])
        world.clock.advance(dt.timedelta(hours=1))
    seen: list[str] = []
    url = f"{TASKS}?limit=2&accountId=acct-a"
    while url:
        response = world.client.get(url, headers=world.a)
        assert response.status_code == 200
        assert isinstance(response.json(), list)
        seen += [t["taskId"] for t in response.json()]
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else ""
        if link:
            assert link.endswith('; rel="next"')
    assert seen == ids[::-1]


def test_list_filters_by_status_as_the_clock_says(world: World) -> None:
    old = world.create(world.a)["taskId"]
    world.clock.advance(13 * DAY)
    young = world.create(world.a)["taskId"]
    ready = world.client.get(f"{TASKS}?status=ready", headers=world.a).json()
    assert [t["taskId"] for t in ready] == [old]
    assert ready[0]["readyTime"] == (T0 + 12 * DAY).isoformat()
    pending = world.client.get(f"{TASKS}?status=pending", headers=world.a).json()
    assert [t["taskId"] for t in pending] == [young]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("status=done", "status must be one of"),
        ("cursor=zzz", "cursor is not valid"),
        ("page=2", "unknown query parameter"),
        ("limit=1&limit=2", "more than once"),
        ("limit=%C2%B2", "limit"),  # a digit to str.isdigit, not to int()
        ("limit=" + "9" * 5000, "limit"),
        ("cursor=" + encode_cursor_text("9999-12-31T23:59:59.999999-23:59"), "cursor"),
        ("cursor=" + encode_cursor_text("0001-01-01T00:00:00+14:00"), "cursor"),
    ],
)
def test_bad_list_queries_are_400(world: World, query: str, fragment: str) -> None:
    assert_error(
        world.client.get(f"{TASKS}?{query}", headers=world.a), 400, "BAD_REQUEST", fragment
    )


def test_get_shows_the_task_with_history(world: World) -> None:
    task = world.create(world.a)
    world.clock.advance(DAY)
    world.client.delete(f"{TASKS}/{task['taskId']}", headers=world.a)
    body = world.client.get(f"{TASKS}/{task['taskId']}", headers=world.a).json()
    assert body["status"] == "cancelled"
    assert body["createdBy"] == world.app_a
    assert body["history"] == [
        {
            "from": "pending",
            "to": "pending",
            "at": T0.isoformat(),
            "by": world.app_a,
            "event": "created",
            "detail": None,
        },
        {
            "from": "pending",
            "to": "cancelled",
            "at": (T0 + DAY).isoformat(),
            "by": world.app_a,
            "event": "transition",
            "detail": None,
        },
    ]
    assert body["purgedTime"] is None


def test_cancel_is_idempotent_and_keeps_the_first_time(world: World) -> None:
    task_id = world.create(world.a)["taskId"]
    world.clock.advance(DAY)
    first = world.client.delete(f"{TASKS}/{task_id}", headers=world.a)
    assert first.status_code == 200
    assert first.json() == {
        "data": {"message": f"successful cancelled task with taskId: {task_id}"}
    }
    world.clock.advance(30 * DAY)
    again = world.client.delete(f"{TASKS}/{task_id}", headers=world.a)
    assert again.json() == first.json()
    task = world.client.get(f"{TASKS}/{task_id}", headers=world.a).json()
    assert task["cancelledTime"] == (T0 + DAY).isoformat()


def test_cancel_fifteen_days_after_creation_is_410_and_the_task_is_actioned(world: World) -> None:
    task_id = world.create(world.a)["taskId"]
    world.clock.advance(15 * DAY)
    response = world.client.delete(f"{TASKS}/{task_id}", headers=world.a)
    assert_error(response, 410, "DEADLINE_EXCEEDED", task_id)
    task = world.client.get(f"{TASKS}/{task_id}", headers=world.a).json()
    assert task["status"] == "actioned"
    assert task["readyTime"] == (T0 + 12 * DAY).isoformat()
    assert task["actionedTime"] == (T0 + 15 * DAY).isoformat()
    assert task["cancelledTime"] is None


def test_tenants_are_isolated(world: World) -> None:
    task_id = world.create(world.a)["taskId"]
    bearer_b = world.bearer(world.b)
    for headers in (world.b, bearer_b):
        assert world.client.get(TASKS, headers=headers).json() == []
        assert_error(world.client.get(f"{TASKS}/{task_id}", headers=headers), 404, "NOT_FOUND")
        assert_error(world.client.delete(f"{TASKS}/{task_id}", headers=headers), 404, "NOT_FOUND")
        assert_error(
            world.client.get(f"{TASKS}?accountId=acct-a", headers=headers),
            403,
            "UNAUTHORIZED_ACCOUNT",
        )
    assert world.client.get(f"{TASKS}/{task_id}", headers=world.a).json()["status"] == "pending"


def test_unknown_and_malformed_task_ids(world: World) -> None:
    assert_error(world.client.get(f"{TASKS}/{uuid.uuid4()}", headers=world.a), 404, "NOT_FOUND")
    assert_error(
        world.client.get(f"{TASKS}/not-a-uuid", headers=world.a), 400, "BAD_REQUEST", "UUID"
    )


def test_an_overdue_task_says_so(world: World) -> None:
    task = world.create(world.a)
    world.clock.advance(30 * DAY)
    body = world.client.get(f"{TASKS}/{task['taskId']}", headers=world.a).json()
    assert body["overdue"] is True
    assert body["history"][-1]["event"] == "overdue"
    listed = world.client.get(TASKS, headers=world.a).json()
    assert listed[0]["overdue"] is True


def test_a_held_task_shows_the_status_the_client_knows_with_held_time(world: World) -> None:
    task_id = world.create(world.a)["taskId"]
    world.clock.advance(13 * DAY)
    Operators(world.service).hold(task_id, "ana", "subject disputes it")
    world.clock.advance(10 * DAY)  # past the hand-off moment
    shown = world.client.get(f"{TASKS}/{task_id}", headers=world.a).json()
    assert shown["status"] == "ready"
    assert shown["heldTime"] == (T0 + 13 * DAY).isoformat()
    assert "ana" not in str(shown)
    assert "disputes" not in str(shown)
    ready = world.client.get(f"{TASKS}?status=ready", headers=world.a).json()
    assert [t["taskId"] for t in ready] == [task_id]
    assert world.client.get(f"{TASKS}?status=actioned", headers=world.a).json() == []
    cancelled = world.client.delete(f"{TASKS}/{task_id}", headers=world.a)
    assert cancelled.status_code == 200  # held, so not past the deadline


@settings(max_examples=60, deadline=None)
@given(
    age=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=60)),
    advanced=st.booleans(),
    token=st.booleans(),
)
def test_over_http_a_cancel_after_ready_is_always_the_410_envelope(
    age: dt.timedelta, advanced: bool, token: bool
) -> None:
    """The lifecycle's promise through the API, with the clock injected: a DELETE before
    creation + 15 days cancels; at or after it, every DELETE is 410 DEADLINE_EXCEEDED in the
    envelope and the task stays actioned, whether or not the background advance stored the
    hand-off first."""
    world = World()
    with world.client:
        headers = world.bearer(world.a) if token else world.a
        task_id = world.create(headers)["taskId"]
        world.clock.advance(age)
        if advanced:
            world.service.advance_due()
        headers = world.bearer(world.a) if token else world.a  # a token of this moment
        response = world.client.delete(f"{TASKS}/{task_id}", headers=headers)
        shown = world.client.get(f"{TASKS}/{task_id}", headers=headers).json()
    if age < dt.timedelta(days=15):
        assert response.status_code == 200, response.text
        assert shown["status"] == "cancelled"
    else:
        assert_error(response, 410, "DEADLINE_EXCEEDED", "cannot be cancelled")
        assert shown["status"] == "actioned"
        assert shown["cancelledTime"] is None
