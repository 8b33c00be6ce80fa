"""A FUSE file system in memory that keeps only what was synced across a power cut.

A file's bytes are durable once the file is synced (`fsync`, `fdatasync`); a directory's
entries (a create, rename, unlink, `mkdir`) once the directory is synced, as POSIX promises and
no more. Owners, permission bits and times are durable at once. A power cut (the line `off` on
standard input, or its end) stops every operation (each answers `EIO` from then on), writes what
was synced to the state file, and unmounts; the next mount of that state file is the disk after
the power came back. Run as `python _lossyfs.py STATE MOUNTPOINT` (a script, needing nothing of
the package): it prints `mounted` once the mount answers, `off` once the state is written.
The line `refuse N` makes every change (a write, create, rename, ...) fail with errno N from
then on, as a read-only (`EROFS`) or full (`ENOSPC`) disk does; `refuse 0` ends that.

The mount is `allow_other,default_permissions`: the kernel checks permission bits, and a server
running as another user (PostgreSQL refuses root) can use it. File locks (`fcntl`, `flock`) are
the kernel's.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

try:
    from ._lossystate import BLOCK, ROOT, Node, State, read_state, write_state
except ImportError:  # run as a script: the module beside it, and nothing of the package
    from _lossystate import (  # type: ignore[import-not-found,no-redef]
        BLOCK,
        ROOT,
        Node,
        State,
        read_state,
        write_state,
    )


F = TypeVar("F", bound=Callable[..., Any])


_CHANGES = {"mkdir", "rmdir", "create", "write", "truncate", "unlink", "rename", "link"}


def _locked(method: F) -> F:
    """One operation at a time, none after the power cut, and no change while refused."""

    def run(self: Any, *args: Any) -> Any:
        with self.mutex:
            if self.off:
                raise OSError(errno.EIO, "the power is off")
            if self.refusing and method.__name__ in _CHANGES:
                raise OSError(self.refusing, os.strerror(self.refusing))
            return method(self, *args)

    run.__name__ = method.__name__
    return run  # type: ignore[return-value]


def _operations(state: State, fuse: Any) -> Any:
    """The mfusepy operations over *state* (built here so that mfusepy loads only in the
    child)."""

    class LossyOperations(fuse.Operations):  # type: ignore[misc]
        use_ns = True

        def __init__(self) -> None:
            self.mutex = threading.Lock()
            self.off = False
            self.refusing = 0
            self.mounted = threading.Event()

        def init(self, path: str) -> None:
            self.mounted.set()

        def _lookup(self, path: str) -> int:
            ino = ROOT
            for name in path.strip("/").split("/"):
                if not name:
                    continue
                node = state.nodes[ino]
                if not node.is_dir:
                    raise OSError(errno.ENOTDIR, path)
                if name not in node.entries:
                    raise OSError(errno.ENOENT, path)
                ino = node.entries[name]
            return ino

        def _parent(self, path: str) -> tuple[Node, str]:
            head, _, name = path.rstrip("/").rpartition("/")
            parent = state.nodes[self._lookup(head or "/")]
            if not parent.is_dir:
                raise OSError(errno.ENOTDIR, path)
            return parent, name

        def _entry(self, path: str) -> tuple[Node, str]:
            """The parent directory of *path*, and *path*'s name in it (which must exist)."""
            parent, name = self._parent(path)
            if name not in parent.entries:
                raise OSError(errno.ENOENT, path)
            return parent, name

        def _node(self, path: str | None, fh: int | None = None) -> Node:
            return state.nodes[fh if fh else self._lookup(path or "/")]

        def _new(self, path: str, mode: int) -> int:
            parent, name = self._parent(path)
            if name in parent.entries:
                raise OSError(errno.EEXIST, path)
            uid, gid, _ = fuse.fuse_get_context()
            node = Node(mode, uid, gid)
            node.nlink = 2 if node.is_dir else 1
            ino = state.add(node)
            parent.entries[name] = ino
            parent.mtime_ns = time.time_ns()
            return ino

        def _unlink(self, parent: Node, name: str) -> None:
            state.nodes[parent.entries.pop(name)].nlink -= 1
            parent.mtime_ns = time.time_ns()

        @_locked
        def getattr(self, path: str | None, fh: int | None = None) -> dict[str, Any]:
            ino = fh if fh else self._lookup(path or "/")
            node = state.nodes[ino]
            size = node.size if not node.is_dir else BLOCK
            return {
                "st_ino": ino,
                "st_mode": node.mode,
                "st_uid": node.uid,
                "st_gid": node.gid,
                "st_nlink": max(node.nlink, 0),
                "st_size": size,
                "st_blocks": (size + 511) // 512,
                "st_mtime": node.mtime_ns,
                "st_ctime": node.mtime_ns,
            }

        @_locked
        def readdir(self, path: str, fh: int) -> list[tuple[str, dict[str, int], int]]:
            # with use_ino the inode number must be given: an entry of inode 0 is skipped
            ino = self._lookup(path)
            listed = [(".", ino), ("..", ino), *state.nodes[ino].entries.items()]
            return [
                (name, {"st_ino": child, "st_mode": state.nodes[child].mode}, 0)
                for name, child in listed
            ]

        @_locked
        def mkdir(self, path: str, mode: int) -> int:
            self._new(path, stat.S_IFDIR | mode)
            return 0

        @_locked
        def rmdir(self, path: str) -> int:
            parent, name = self._entry(path)
            if state.nodes[parent.entries[name]].entries:
                raise OSError(errno.ENOTEMPTY, path)
            self._unlink(parent, name)
            return 0

        @_locked
        def create(self, path: str, mode: int, flags: int) -> int:
            return self._new(path, stat.S_IFREG | (mode & 0o7777))

        @_locked
        def open(self, path: str, flags: int) -> int:
            if self.refusing == errno.EROFS and flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC):
                raise OSError(errno.EROFS, path)
            return self._lookup(path)

        @_locked
        def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
            return state.nodes[fh].read(size, offset)

        @_locked
        def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
            state.nodes[fh].write(data, offset)
            return len(data)

        @_locked
        def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
            self._node(path, fh).truncate(length)
            return 0

        @_locked
        def fsync(self, path: str | None, datasync: int, fh: int) -> int:
            state.nodes[fh].sync()
            return 0

        @_locked
        def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
            self._node(path).sync()
            return 0

        @_locked
        def unlink(self, path: str) -> int:
            parent, name = self._entry(path)
            self._unlink(parent, name)
            return 0

        @_locked
        def rename(self, old: str, new: str) -> int:
            source, old_name = self._entry(old)
            target, new_name = self._parent(new)
            ino = source.entries[old_name]
            if new_name in target.entries:
                if target.entries[new_name] == ino:
                    return 0
                replaced = state.nodes[target.entries[new_name]]
                if replaced.is_dir and replaced.entries:
                    raise OSError(errno.ENOTEMPTY, new)
                self._unlink(target, new_name)
            del source.entries[old_name]
            target.entries[new_name] = ino
            source.mtime_ns = target.mtime_ns = time.time_ns()
            return 0

        @_locked
        def link(self, target: str, source: str) -> int:
            ino = self._lookup(source)
            parent, name = self._parent(target)
            if name in parent.entries:
                raise OSError(errno.EEXIST, target)
            parent.entries[name] = ino
            state.nodes[ino].nlink += 1
            return 0

        @_locked
        def chmod(self, path: str | None, mode: int) -> int:
            node = self._node(path)
            node.mode = (node.mode & ~0o7777) | (mode & 0o7777)
            return 0

        @_locked
        def chown(self, path: str | None, uid: int, gid: int) -> int:
            node = self._node(path)
            node.uid = node.uid if uid == -1 else uid
            node.gid = node.gid if gid == -1 else gid
            return 0

        @_locked
        def utimens(self, path: str | None, times: tuple[int, int] | None = None) -> int:
            self._node(path).mtime_ns = times[1] if times else time.time_ns()
            return 0

        def statfs(self, path: str) -> dict[str, int]:  # a fixed 16 GiB, half of it free
            return {"f_bsize": BLOCK, "f_frsize": BLOCK, "f_blocks": 1 << 22, "f_bfree": 1 << 21}

        def power_cut(self, state_file: Path) -> None:
            with self.mutex:
                self.off = True
                write_state(state, state_file)

    return LossyOperations()


def main(state_file: Path, mountpoint: Path) -> None:
    import mfusepy  # type: ignore[import-untyped]

    state = read_state(state_file)
    operations = _operations(state, mfusepy)

    def control() -> None:
        operations.mounted.wait()
        sys.stdout.write("mounted\n")
        sys.stdout.flush()
        for line in sys.stdin:
            if line.strip() == "off":
                break
            if line.startswith("refuse "):
                operations.refusing = int(line.split()[1])
                sys.stdout.write("refusing\n")
                sys.stdout.flush()
        operations.power_cut(state_file)
        sys.stdout.write("off\n")
        sys.stdout.flush()
        unmount = ["fusermount3", "-u", "-z", str(mountpoint)]
        subprocess.run(unmount, check=False)  # noqa: S603 (fixed arguments)

    threading.Thread(target=control, name="lossyfs-control", daemon=True).start()
    mfusepy.FUSE(
        operations,
        str(mountpoint),
        foreground=True,
        allow_other=True,
        default_permissions=True,
        use_ino=True,
        fsname="lossyfs",
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
