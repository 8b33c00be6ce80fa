"""Counting a destination's jobs: `JobCounts` from the jobs themselves (stores that count in
Python) or from one grouped query (stores that count in SQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from ._destinations import Job, JobCounts, JobState, OutcomeKind

Group = tuple[str, str | None, int, int, int, dt.datetime | None]
"""One group of a destination's jobs by outcome (None: no outcome yet): the destination, the
outcome word, how many of them are owed, in progress and in all, and the oldest created."""


def count_jobs(jobs: Iterable[Job]) -> dict[str, JobCounts]:
    """`JobCounts` per destination name, for stores that count in Python."""
    groups: dict[tuple[str, str | None], list[Any]] = {}
    for job in jobs:
        word = None if job.outcome is None else job.outcome.kind.value
        row = groups.setdefault((job.destination, word), [0, 0, 0, job.created_time])
        row[0] += job.state is JobState.OWED
        row[1] += job.state.in_progress
        row[2] += 1
        row[3] = min(row[3], job.created_time)
    return counts_from_groups((name, word, *row) for (name, word), row in groups.items())


def counts_from_groups(groups: Iterable[Group]) -> dict[str, JobCounts]:
    """`JobCounts` per destination from its jobs grouped by (destination, outcome), as one
    `GROUP BY` gives them."""
    raw: dict[str, dict[str, Any]] = {}
    for name, word, owed, busy, count, oldest in groups:
        row = raw.setdefault(name, {"owed": 0, "in_progress": 0, "outcomes": {}})
        if word is None:
            row["owed"] += owed
            row["in_progress"] += busy
            row["oldest_open"] = oldest
        else:
            row["outcomes"][word] = row["outcomes"].get(word, 0) + count
    return {
        name: JobCounts(
            row["owed"],
            row["in_progress"],
            sum(row["outcomes"].values()),
            row["outcomes"].get(OutcomeKind.FAILED.value, 0),
            row.get("oldest_open"),
            row["outcomes"],
        )
        for name, row in raw.items()
    }
