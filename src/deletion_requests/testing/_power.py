"""Power cuts for tests: a mount that forgets what was not synced, and process groups stopped
whole.

`LossyMount(mountpoint, state_file)` runs the FUSE file system of `_lossyfs` in a child process
with a process group of its own. `power_cut()` is what a test calls once it has stopped every
writer (`kill_group` on each): the child keeps only what was synced and unmounts; `start()`
mounts that state again, as the disk is when the power comes back. `refuse(errno.EROFS)` or
`refuse(errno.ENOSPC)` makes the disk read-only or full until `refuse(0)`. `close()` (also on
leaving the `with` block) stops the child and unmounts, also after a failure.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import importlib.util
import os
import pickle
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from . import _lossyfs, _lossystate

__all__ = ["LossyMount", "fuse_unavailable", "kill_group", "seed_state"]


def seed_state(state_file: Path, source: Path | None = None) -> None:
    """Write a first state file: an empty root owned by root, or a copy of *source* (files and
    directories, owners and modes kept) taken as synced, as a disk is after `sync`."""
    nodes: dict[int, tuple[object, ...]] = {}

    def copy(path: Path) -> int:
        info = path.lstat()
        ino = len(nodes) + 1
        nodes[ino] = ()  # reserved, so that the root is inode 1
        blocks: dict[int, bytes] = {}
        entries: dict[str, int] = {}
        if stat.S_ISDIR(info.st_mode):
            entries = {entry.name: copy(entry) for entry in sorted(path.iterdir())}
            size = 0
        elif stat.S_ISREG(info.st_mode):
            data = path.read_bytes()
            size = len(data)
            for start in range(0, size, _lossystate.BLOCK):
                block = data[start : start + _lossystate.BLOCK].ljust(_lossystate.BLOCK, b"\0")
                if block.count(0) != _lossystate.BLOCK:  # blocks of zeros stay holes
                    blocks[start // _lossystate.BLOCK] = block
        else:
            raise ValueError(f"{path}: only files and directories can be seeded")
        nodes[ino] = (
            info.st_mode,
            info.st_uid,
            info.st_gid,
            info.st_mtime_ns,
            blocks,
            size,
            entries,
        )
        return ino

    if source is None:
        nodes[1] = (stat.S_IFDIR | 0o755, 0, 0, time.time_ns(), {}, 0, {})
    else:
        copy(source)
    with state_file.open("wb") as sink:
        pickle.dump({"next_ino": len(nodes) + 1, "nodes": nodes}, sink, pickle.HIGHEST_PROTOCOL)


def fuse_unavailable() -> str | None:
    """Why a FUSE file system cannot be mounted here, or None when it can (as far as can be
    told without mounting)."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is not installed (Debian's fuse3)"
    if importlib.util.find_spec("mfusepy") is None:
        return "mfusepy is not installed"
    if ctypes.util.find_library("fuse3") is None:
        return "libfuse3 is not installed"
    return None


def _group_alive(pgid: int) -> bool:
    """Whether a process of group *pgid* is still running (zombies hold no files: not counted)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def kill_group(process: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    """SIGKILL the process group that *process* leads (started with `start_new_session=True`)
    and wait until no process of it runs."""
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    deadline = time.monotonic() + timeout
    while _group_alive(process.pid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"process group {process.pid} survives SIGKILL")
        time.sleep(0.02)


class LossyMount:
    """The lossy file system mounted at *mountpoint*, its state kept in *state_file* between
    mounts (seeded empty unless it exists)."""

    def __init__(self, mountpoint: Path, state_file: Path, log: Path) -> None:
        self.mountpoint = mountpoint
        self.state_file = state_file
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.cuts = 0
        mountpoint.mkdir(parents=True, exist_ok=True)
        if not state_file.exists():
            seed_state(state_file)

    def __enter__(self) -> LossyMount:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def start(self, timeout: float = 20) -> None:
        """Mount the state file's state; return once the mount answers."""
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(  # noqa: S603 (this package's module, fixed arguments)
                [
                    sys.executable,
                    _lossyfs.__file__,  # as a script: the child needs none of the package
                    str(self.state_file),
                    str(self.mountpoint),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=sink,
                start_new_session=True,
            )
        if self._read_line(timeout) != "mounted":
            self.close()
            raise RuntimeError(f"the lossy file system did not mount: {self.log.read_text()}")

    def _read_line(self, timeout: float) -> str:
        assert self.process is not None
        assert self.process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
        return self.process.stdout.readline().decode().strip()

    def refuse(self, code: int, timeout: float = 10) -> None:
        """Make every change to the file system fail with errno *code* from now on (`EROFS`:
        read-only; `ENOSPC`: full), or, with 0, succeed again; reads go on either way."""
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(f"refuse {code}\n".encode())
        self.process.stdin.flush()
        if self._read_line(timeout) != "refusing":
            raise RuntimeError(f"the lossy file system did not switch: {self.log.read_text()}")

    def power_cut(self, timeout: float = 30) -> None:
        """Throw away everything not synced, and unmount. Stop every writer first."""
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(b"off\n")
        self.process.stdin.flush()
        if self._read_line(timeout) != "off":
            raise RuntimeError(f"the lossy file system did not power off: {self.log.read_text()}")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        self._stop()
        self.cuts += 1

    def _stop(self) -> None:
        kill_group(self.process)
        self.process = None
        if self.mounted():
            subprocess.run(  # noqa: S603 (fixed arguments)
                ["fusermount3", "-u", "-z", str(self.mountpoint)],  # noqa: S607
                check=False,
                capture_output=True,
            )

    def mounted(self) -> bool:
        """Whether the kernel has a mount at the mount point (answering or not)."""
        target = str(self.mountpoint.resolve())
        with open("/proc/self/mounts") as mounts:
            return any(line.split()[1] == target for line in mounts)

    def close(self) -> None:
        """Stop the file system (no power cut: the state file keeps the last one's state)."""
        if self.process is not None:
            self._stop()
