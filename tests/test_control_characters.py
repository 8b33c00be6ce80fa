"""Free text with a control character is refused (400, naming the field) wherever it would
reach a store, before anything is written: reasons, outcomes, destination names, webhook and
callback URLs, idempotency keys. Text without one is kept as given."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deletion_requests import (
    AccessAdmin,
    DeletionService,
    DestinationWork,
    InvalidRequest,
    ManualClock,
    MemoryStore,
    Mode,
    Operators,
    Outcome,
)
from deletion_requests._text import CONTROL, check_text
from deletion_requests.wire import check_reason

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
CONTROLS = ["\x00", "\x01", "\x1b", "\x7f", "\x80", "\x9b", "\ud800"]
"""NUL (PostgreSQL's text cannot hold it), an escape, DEL, C1, a lone surrogate."""
printable = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=500
)
ALL_CONTROLS = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))] + ["\ud800"]
with_control = st.builds(
    lambda before, control, after: f"x{before}{control}{after}x",
    st.text(max_size=20),
    st.sampled_from(ALL_CONTROLS),
    st.text(max_size=20),
)
"""Text with a control character inside it (not at an end, where `strip` takes whitespace)."""
with_unfolded_control = st.builds(
    lambda before, control, after: f"x{before}{control}{after}x",
    st.text(max_size=20),
    st.sampled_from([c for c in ALL_CONTROLS if not c.isspace()]),
    st.text(max_size=20),
)
"""Text with a control character that a decision reason's folding of whitespace keeps."""


class World:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.clock = ManualClock(T0)
        self.admin = AccessAdmin(self.store, self.clock)
        self.admin.allow_account("acct-1")
        app, secret = self.admin.create_app(["acct-1"])
        self.app_id = app.app_id
        self.service = DeletionService(self.store, self.clock)
        self.caller = self.service.authenticate(app.app_id, secret)
        self.operators = Operators(self.service)
        self.work = DestinationWork(self.service)

    def create(self, key: str | None = None) -> str:
        return self.service.create(
            self.caller, "acct-1", raw_emails=["p@example.com"], idempotency_key=key
        ).task_id


@settings(max_examples=200, deadline=None)
@given(with_control)
def test_any_text_with_a_control_character_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidRequest, match=r"^the field must not hold control characters"):
        check_text(text, "the field")
    with pytest.raises(InvalidRequest, match=r"^reason must not hold control characters"):
        Outcome.parse("exempt", text)


@settings(max_examples=200, deadline=None)
@given(with_unfolded_control)
def test_a_decision_reason_keeping_a_control_character_is_refused(text: str) -> None:
    with pytest.raises(InvalidRequest, match=r"^a reason must not hold control characters"):
        check_reason(text)


@settings(max_examples=200, deadline=None)
@given(printable)
def test_any_printable_text_within_the_limit_is_kept(text: str) -> None:
    assert check_text(text, "f") == text
    folded = " ".join(text.split())
    if folded:
        assert check_reason(text) == folded
    if text.strip():
        assert Outcome.parse("exempt", text).reason == text.strip()


@pytest.mark.parametrize("control", CONTROLS)
def test_a_decision_reason_with_a_control_character_is_refused_and_changes_nothing(
    control: str,
) -> None:
    world = World()
    task_id = world.create()
    before = world.store.get(task_id)
    reason = f"legal{control}hold"
    for decide in (world.operators.hold, world.operators.cancel, world.operators.release):
        with pytest.raises(InvalidRequest, match="a reason must not hold control characters"):
            decide(task_id, "ana", reason)
    with pytest.raises(InvalidRequest, match="a reason must not hold control characters"):
        world.operators.extend_due(task_id, "ana", 3, reason)
    assert world.store.get(task_id) == before


def test_line_breaks_and_tabs_in_a_decision_reason_are_folded_not_refused() -> None:
    assert check_reason("the\tCRM\r\nexport\x1fis slow") == "the CRM export is slow"


@pytest.mark.parametrize("control", CONTROLS)
def test_an_outcome_reason_with_a_control_character_is_refused(control: str) -> None:
    with pytest.raises(InvalidRequest, match=r"^reason must not hold control characters"):
        Outcome.parse("exempt", f"tax{control}law")
    assert Outcome.parse("exempt", "  tax law ").reason == "tax law"


@pytest.mark.parametrize("name", ["crm\n", "crm\x00", "\x1bcrm", "cr\x85m"])
def test_a_destination_name_with_a_control_character_is_refused(name: str) -> None:
    world = World()
    with pytest.raises(InvalidRequest, match="destination name"):
        world.work.create(name, Mode.PULL)
    assert world.work.store.list_destinations() == []


@pytest.mark.parametrize("control", CONTROLS)
def test_a_webhook_or_callback_url_with_a_control_character_is_refused(control: str) -> None:
    world = World()
    url = f"https://crm.example/jobs{control}x"
    with pytest.raises(InvalidRequest, match=r"^a webhook URL must not hold control characters"):
        world.work.create("crm", Mode.PUSH, url)
    assert world.work.store.list_destinations() == []
    with pytest.raises(InvalidRequest, match=r"^a callback URL must not hold control characters"):
        world.admin.set_callback(world.app_id, url)
    assert world.admin.callbacks() == {}


@pytest.mark.parametrize("control", CONTROLS)
def test_an_idempotency_key_with_a_control_character_is_refused(control: str) -> None:
    world = World()
    with pytest.raises(InvalidRequest, match=r"^Idempotency-Key must not hold control"):
        world.create(f"order{control}1")
    assert world.operators.counts()["pending"] == 0
    assert world.service.get(world.caller, world.create("order-1")).status.value == "pending"


def test_the_control_characters_are_c0_del_c1_and_lone_surrogates() -> None:
    refused = {c for c in range(0x110000) if CONTROL.fullmatch(chr(c))}
    assert refused == {*range(0x20), *range(0x7F, 0xA0), *range(0xD800, 0xE000)}
