"""`DiskProbe`: a directory that takes a new block passes; one that does not fails with a
`StoreError`; a pass is trusted for its interval; stale probe files go."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from deletion_requests import StoreError
from deletion_requests.stores import DiskProbe


def test_a_probe_writes_and_removes_its_file(tmp_path: Path) -> None:
    DiskProbe(tmp_path, ".probe-").check()
    assert list(tmp_path.iterdir()) == []


def test_a_directory_that_takes_no_file_fails_and_is_tried_again(tmp_path: Path) -> None:
    probe = DiskProbe(tmp_path / "gone", ".probe-", interval=60)
    with pytest.raises(StoreError, match="does not take new data"):
        probe.check()
    (tmp_path / "gone").mkdir()
    probe.check()  # a failure is not trusted: the next check writes again
    (tmp_path / "gone").rmdir()
    probe.check()  # a pass is, for the interval


def test_stale_probe_files_are_removed_and_recent_ones_kept(tmp_path: Path) -> None:
    stale, recent = tmp_path / ".probe-old", tmp_path / ".probe-new"
    stale.write_bytes(b"x")
    recent.write_bytes(b"x")
    hours_ago = time.time() - 7200
    os.utime(stale, (hours_ago, hours_ago))
    DiskProbe(tmp_path, ".probe-")
    assert sorted(tmp_path.iterdir()) == [recent]
