"""The cheap paths a page of tasks takes: `catch_up` without the machine when nothing is due,
and `DeletionTask.from_fields` for values a store has already typed. Each is held to the path
it stands in for."""

from __future__ import annotations

import datetime as dt

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from deletion_requests import DeletionTask, Policy, Status
from deletion_requests._lifecycle import _catch_up_by_machine, catch_up, hold, release
from deletion_requests.stores import Transition
from deletion_requests.testing import aware_datetimes, policies, tasks

FIELDS = tuple(field.name for field in attrs.fields(DeletionTask))


def last_moment(task: DeletionTask) -> dt.datetime:
    return max((task.creation_time, *(step.at for step in task.history)))


@st.composite
def stored_tasks(draw: st.DrawFn) -> tuple[DeletionTask, Policy]:
    """A task in any reachable state, held or released now and then, with its policy."""
    policy = draw(policies())
    task = draw(tasks(policy))
    if task.status in (Status.PENDING, Status.READY) and draw(st.booleans()):
        at = task.creation_time + draw(
            st.timedeltas(dt.timedelta(0), policy.pending_period + policy.review_period)
        )
        task = hold(task, max(at, last_moment(task)), policy, "operator:ann", "audit")
        if draw(st.booleans()):
            later = task.held_time + draw(st.timedeltas(dt.timedelta(0), 2 * policy.cancel_period))
            task = release(task, later, policy, "operator:ann")
    return task, policy


def moments(task: DeletionTask, policy: Policy) -> st.SearchStrategy[dt.datetime]:
    """Any time, and times a microsecond either side of each moment that makes something
    due: ready, the hand-off, the cancel, overdue."""
    edges = [policy.ready_at(task.creation_time), policy.actioned_at(task.creation_time)]
    edges += [t for t in (task.cancelled_time, task.ready_time) if t is not None]
    if task.actioned_time is not None:
        edges.append(task.actioned_time + policy.action_window)
    near = st.builds(
        lambda edge, k: edge + k * dt.timedelta(microseconds=1),
        st.sampled_from(edges),
        st.sampled_from((-1, 0, 1)),
    )
    return st.one_of(near, near, near, aware_datetimes())


@settings(max_examples=500)
@given(data=st.data(), stored=stored_tasks())
def test_catch_up_is_the_machines_catch_up(
    data: st.DataObject, stored: tuple[DeletionTask, Policy]
) -> None:
    """Whatever the task and the time, `catch_up` gives what the whole path through the machine
    gives, and returns the task itself exactly when the machine changes nothing."""
    task, policy = stored
    now = data.draw(moments(task, policy))
    by_machine = _catch_up_by_machine(task, now, policy)
    result = catch_up(task, now, policy)
    assert result == by_machine
    assert (result is task) == (by_machine is task)


@given(stored=stored_tasks())
def test_a_task_caught_up_is_returned_as_it_is(stored: tuple[DeletionTask, Policy]) -> None:
    """Once caught up at a time, a second catch-up at that time has nothing to do."""
    task, policy = stored
    now = last_moment(task) + policy.action_window + policy.cancel_period
    caught_up = catch_up(task, now, policy)
    assert catch_up(caught_up, now, policy) is caught_up


@given(stored=stored_tasks(), summary=st.booleans())
def test_from_fields_is_the_initialiser_of_typed_values(
    stored: tuple[DeletionTask, Policy], summary: bool
) -> None:
    """For values typed as the converters make them, `from_fields` builds the task the
    initialiser builds: equal, with the same hash and repr, field by field the same values."""
    task, _ = stored
    if summary:  # as a page's summaries come: no identifiers, no history
        task = attrs.evolve(task, identifiers=frozenset(), history=())
    values = tuple(getattr(task, name) for name in FIELDS)
    built = DeletionTask.from_fields(*values)
    initialised = DeletionTask(**dict(zip(FIELDS, values, strict=True)))
    assert type(built) is DeletionTask
    assert built == initialised
    assert hash(built) == hash(initialised)
    assert repr(built) == repr(initialised)
    for name in FIELDS:
        assert type(getattr(built, name)) is type(getattr(initialised, name)), name
        assert getattr(built, name) == getattr(initialised, name), name
    assert all(type(step) is Transition for step in built.history)


def test_from_fields_takes_the_fields_in_the_class_order() -> None:
    """Its parameters are the class's fields, in their order, none left out."""
    parameters = DeletionTask.from_fields.__code__.co_varnames[1 : len(FIELDS) + 1]
    assert parameters == FIELDS
    assert DeletionTask.from_fields.__code__.co_argcount == len(FIELDS) + 1
