"""Creating deletion requests: the 202 and its body, idempotency keys, every bad body,
content type and size refused with a 4xx that stores nothing, account grants, and that raw
emails and secrets appear in no response, log or stored task."""

from __future__ import annotations

import logging

import pytest
from deletion_requests_http import MAX_BODY

from deletion_requests.wire import hash_email

from .conftest import DAY, EMAILS, TASKS, World, assert_error


def test_create_answers_202_with_the_task_and_location(world: World) -> None:
    response = world.client.post(
        EMAILS,
        json={
            "accountId": "acct-a",
            "rawEmails": [" Person@Example.com "],
            "sha256Emails": ["kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU="],
        },
        headers=world.a,
    )
    assert response.status_code == 202
    body = response.json()
    assert list(body) == [
        "taskId",
        "status",
        "deletionType",
        "creationTime",
        "accountId",
        "readyTime",
        "actionedTime",
        "cancelledTime",
        "completedTime",
        "overdue",
        "heldTime",
        "dueTime",
    ]
    assert body["status"] == "pending"
    assert body["dueTime"] == "2026-03-31T09:00:00+00:00"  # created + 30 days
    assert body["deletionType"] == "emailsDeletion"
    assert body["creationTime"] == "2026-03-01T09:00:00+00:00"
    assert body["readyTime"] is None
    assert response.headers["location"] == f"/data/deletion-requests/{body['taskId']}"
    assert "person" not in response.text.lower()
    stored = world.store.get(body["taskId"])
    assert stored is not None
    assert stored.identifiers == {
        hash_email("person@example.com"),
        "kJbnntuJYvQBhPiiHQcz6OSn0EyvzVeOBmtsG2sWkyU=",
    }


def test_idempotency_key_replays_the_original(world: World) -> None:
    headers = {**world.a, "Idempotency-Key": "order-1"}
    first = world.create(headers)
    world.clock.advance(DAY)
    again = world.create(headers)
    assert again == first
    response = world.client.post(
        EMAILS, json={"accountId": "acct-a", "rawEmails": ["other@example.com"]}, headers=headers
    )
    assert_error(response, 400, "BAD_REQUEST", "Idempotency-Key")
    assert len(world.client.get(TASKS, headers=world.a).json()) == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"accountId": "acct-a"}, "at least one entry"),
        ({"accountId": "acct-a", "rawEmails": []}, "at least one entry"),
        ({"rawEmails": ["a@b.c"]}, "accountId is required"),
        (
            {"accountId": "acct-a", "rawEmails": ["a@b.c"], "sha256Email": ["x"]},
            "unknown field(s) sha256Email",
        ),
        ({"accountId": 7, "rawEmails": ["a@b.c"]}, "accountId must be a string"),
        ({"accountId": "acct-a", "rawEmails": "a@b.c"}, "rawEmails must be a list"),
        ({"accountId": "acct-a", "rawEmails": [1]}, "rawEmails[0] must be a string"),
        ({"accountId": "acct-a", "rawEmails": ["not-an-email"]}, "rawEmails[0]"),
        (
            {
                "accountId": "acct-a",
                "sha256Emails": [
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                ],
            },
            "looks like hex",
        ),
        ({"accountId": "acct-a", "sha256Emails": ["AAAA"]}, "sha256Emails[0]"),
        ([1, 2], "must be a JSON object"),
        ("text", "must be a JSON object"),
    ],
)
def test_bad_bodies_are_400_and_store_nothing(world: World, body: object, fragment: str) -> None:
    response = world.client.post(EMAILS, json=body, headers=world.a)
    assert_error(response, 400, "BAD_REQUEST", fragment)
    assert "not-an-email" not in response.text
    assert world.client.get(TASKS, headers=world.a).json() == []


def test_malformed_json_is_400(world: World) -> None:
    response = world.client.post(
        EMAILS, content=b'{"accountId": ', headers={**world.a, "Content-Type": "application/json"}
    )
    assert_error(response, 400, "BAD_REQUEST", "not valid JSON")


def test_missing_body_is_400(world: World) -> None:
    response = world.client.post(EMAILS, headers={**world.a, "Content-Type": "application/json"})
    assert_error(response, 400, "BAD_REQUEST", "missing")


def test_wrong_content_type_is_415(world: World) -> None:
    response = world.client.post(
        EMAILS, content=b"accountId=acct-a", headers={**world.a, "Content-Type": "text/plain"}
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE", "application/json")


def test_body_over_one_mebibyte_is_413(world: World) -> None:
    big = b'{"accountId": "acct-a", "rawEmails": ["' + b"a" * MAX_BODY + b'@b.c"]}'
    response = world.client.post(
        EMAILS, content=big, headers={**world.a, "Content-Type": "application/json"}
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b" " * 65536
        yield b"{}"

    response = world.client.post(
        EMAILS, content=chunks(), headers={**world.a, "Content-Type": "application/json"}
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert world.client.get(TASKS, headers=world.a).json() == []


def test_account_not_granted_or_not_listed_is_403(world: World) -> None:
    response = world.client.post(
        EMAILS, json={"accountId": "acct-b", "rawEmails": ["a@b.c"]}, headers=world.a
    )
    assert_error(response, 403, "UNAUTHORIZED_ACCOUNT", "acct-b")
    world.admin.revoke_account("acct-unlisted-later")
    response = world.client.post(
        EMAILS, json={"accountId": "acct-unlisted-later", "rawEmails": ["a@b.c"]}, headers=world.a
    )
    assert_error(response, 403, "UNAUTHORIZED_ACCOUNT")


def test_secrets_and_raw_emails_appear_in_no_response_or_log(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    raw = "Private.Person@Example.org"
    texts = []
    with caplog.at_level(logging.DEBUG):
        token_response = world.client.post(
            "/auth/oauth2/token", data={"grant_type": "client_credentials"}, headers=world.a
        )
        token = token_response.json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        created = world.client.post(
            EMAILS, json={"accountId": "acct-a", "rawEmails": [raw]}, headers=bearer
        )
        bad = world.client.post(
            EMAILS, json={"accountId": "acct-a", "rawEmails": [raw, raw + " x"]}, headers=bearer
        )
        task_id = created.json()["taskId"]
        texts += [created.text, bad.text]
        texts.append(world.client.get(TASKS, headers=bearer).text)
        texts.append(world.client.get(f"{TASKS}/{task_id}", headers=bearer).text)
        world.clock.advance(20 * DAY)
        world.service.advance_due()
        texts.append(world.client.delete(f"{TASKS}/{task_id}", headers=world.a).text)
    for text in [*texts, caplog.text]:
        assert world.secret_a not in text
        assert "private.person" not in text.lower()
    assert token not in caplog.text
    assert world.secret_a not in token_response.text
    stored = world.store.get(task_id)
    assert stored is not None
    assert "private.person" not in repr(stored).lower()
    assert all("@" not in value for value in stored.identifiers)
