"""Small timing helpers shared by the benchmarks: medians of repeated runs, never a single run."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable


def median_seconds(run: Callable[[], object], repeats: int = 5) -> float:
    """The median wall time of *repeats* calls of *run*, with the cyclic GC paused (as timeit
    does), so that collections triggered by earlier set-up do not land in the timed region."""
    times = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return statistics.median(times)


def per_op_us(run: Callable[[int], object], ops: int, repeats: int = 5) -> float:
    """Median microseconds per operation of `run(ops)`."""
    return median_seconds(lambda: run(ops), repeats) / ops * 1e6
