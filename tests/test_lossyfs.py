"""The lossy file system the power-loss tests stand on: after a cut it holds what was synced,
and only that."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from deletion_requests.testing._power import LossyMount, seed_state

from .test_power_loss import mounted


def sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(path: Path, data: bytes, sync: bool, flags: int = os.O_TRUNC) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o640)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[LossyMount]:
    with mounted(tmp_path, tmp_path / "lossyfs.log") as lossy:
        yield lossy


def test_a_power_cut_keeps_synced_bytes_and_entries_and_nothing_else(mount: LossyMount) -> None:
    disk = mount.mountpoint
    write(disk / "synced", b"kept " * 2000, sync=True)
    write(disk / "unsynced", b"lost", sync=False)
    write(disk / "replaced", b"old", sync=True)
    write(disk / "removed", b"back", sync=True)
    (disk / "sub").mkdir()
    write(disk / "sub" / "inner", b"in", sync=True)
    sync_directory(disk / "sub")
    sync_directory(disk)
    # after the directory's last sync: bytes synced but entries not, and the reverse
    write(disk / "synced", b"tail", sync=False, flags=os.O_APPEND)
    write(disk / "new", b"entry never synced", sync=True)
    write(disk / "replaced.tmp", b"new", sync=True)
    os.replace(disk / "replaced.tmp", disk / "replaced")
    (disk / "removed").unlink()
    (disk / "never").mkdir()
    assert (disk / "synced").stat().st_size == 10004
    mount.power_cut()
    assert not mount.mounted()
    mount.start()

    assert sorted(os.listdir(disk)) == ["removed", "replaced", "sub", "synced", "unsynced"]
    assert (disk / "synced").read_bytes() == b"kept " * 2000
    assert (disk / "unsynced").read_bytes() == b""  # its entry was synced, its bytes never
    assert (disk / "replaced").read_bytes() == b"old"  # the rename was not synced
    assert (disk / "removed").read_bytes() == b"back"  # nor the unlink
    assert (disk / "sub" / "inner").read_bytes() == b"in"

    os.replace(disk / "removed", disk / "renamed")
    sync_directory(disk)
    mount.power_cut()
    mount.start()
    assert (disk / "renamed").read_bytes() == b"back"
    assert not (disk / "removed").exists()


def test_a_seeded_state_keeps_owners_modes_and_contents(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "private").mkdir(parents=True)
    (source / "private").chmod(0o700)
    (source / "private" / "file").write_bytes(b"\0" * 8192 + b"end")
    os.chown(source / "private", 1234, 1234)
    seed_state(tmp_path / "disk.state", source)
    with mounted(tmp_path, tmp_path / "lossyfs.log") as lossy:
        private = lossy.mountpoint / "private"
        info = private.stat()
        assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (1234, 1234, 0o700)
        assert (private / "file").read_bytes() == b"\0" * 8192 + b"end"
