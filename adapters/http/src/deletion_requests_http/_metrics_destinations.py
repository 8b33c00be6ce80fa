"""Prometheus gauges by destination, read from the store at each scrape: the destinations
(one read) and their jobs counted by state and outcome (`job_counts`, one grouped query)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from deletion_requests import OutcomeKind
from deletion_requests.stores import Destinations

if TYPE_CHECKING:
    import datetime as dt

    from prometheus_client.metrics_core import Metric

PREFIX = "deletion_requests_destination"


class DestinationCollector:
    """Each destination's jobs owed and in progress, the age of its oldest open job, its
    final jobs by outcome, its failed attempts in a row, whether it is paused and whether
    its breaker is open."""

    def __init__(self, store: Destinations, now: dt.datetime) -> None:
        self.store = store
        self.now = now

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        destinations = self.store.list_destinations()
        counts = self.store.job_counts()
        jobs = GaugeMetricFamily(
            f"{PREFIX}_jobs",
            "Jobs without an outcome, by destination and state (owed, in_progress).",
            labels=["destination", "state"],
        )
        age = GaugeMetricFamily(
            f"{PREFIX}_oldest_open_age_seconds",
            "How long ago the oldest job without an outcome was made, by destination (0 "
            "when it has none).",
            labels=["destination"],
        )
        outcomes = GaugeMetricFamily(
            f"{PREFIX}_outcomes",
            "Jobs with an outcome, by destination and outcome word.",
            labels=["destination", "outcome"],
        )
        failures = GaugeMetricFamily(
            f"{PREFIX}_failures_in_a_row",
            "Failed push attempts in a row, by destination (0 since the last one received).",
            labels=["destination"],
        )
        paused = GaugeMetricFamily(
            f"{PREFIX}_paused",
            "1 when the destination is paused, by destination and by whom (operator or breaker).",
            labels=["destination", "by"],
        )
        breaker = GaugeMetricFamily(
            f"{PREFIX}_breaker_open",
            "1 when the destination's breaker is open: it paused itself after failing, and "
            "waits for an operator to resume it.",
            labels=["destination"],
        )
        for destination in destinations:
            name = destination.name
            count = counts.get(name)
            jobs.add_metric([name, "owed"], count.owed if count else 0)
            jobs.add_metric([name, "in_progress"], count.in_progress if count else 0)
            oldest = None if count is None else count.oldest_open
            waited = 0.0 if oldest is None else (self.now - oldest).total_seconds()
            age.add_metric([name], max(0.0, waited))
            for kind in OutcomeKind:
                done = count.outcomes.get(kind.value, 0) if count else 0
                outcomes.add_metric([name, kind.value], done)
            failures.add_metric([name], destination.failures)
            by = "breaker" if destination.paused_by_breaker else "operator"
            paused.add_metric([name, by], int(destination.paused))
            breaker.add_metric([name], int(destination.paused_by_breaker))
        yield from (jobs, age, outcomes, failures, paused, breaker)
