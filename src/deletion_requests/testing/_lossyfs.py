"""A FUSE file system in memory that keeps only what was synced across a power cut.

A file's bytes are durable once the file is synced (`fsync`, `fdatasync`); a directory's
entries (a create, rename, unlink, `mkdir`) once the directory is synced, as POSIX promises and
no more. Owners, permission bits and times are durable at once. A power cut (the line `off` on
standard input, or its end) stops every operation (each answers `EIO` from then on), writes what
was synced to the state file, and unmounts; the next mount of that state file is the disk after
the power came back. Run as `python _lossyfs.py STATE MOUNTPOINT` (a script, needing nothing of
the package): it prints `mounted` once the mount answers, `off` once the state is written.

The mount is `allow_other,default_permissions`: the kernel checks permission bits, and a server
running as another user (PostgreSQL refuses root) can use it. File locks (`fcntl`, `flock`) are
the kernel's.
"""

from __future__ import annotations

import errno
import os
import pickle
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

BLOCK = 4096
ROOT = 1
_ZERO = bytes(BLOCK)


class Node:
    """A file or a directory: its live state and its synced state."""

    def __init__(self, mode: int, uid: int, gid: int) -> None:
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.mtime_ns = time.time_ns()
        self.nlink = 0
        # files: block number -> BLOCK bytes, and the size; directories: name -> inode number
        self.blocks: dict[int, bytes] = {}
        self.size = 0
        self.entries: dict[str, int] = {}
        self.synced_blocks: dict[int, bytes] = {}
        self.synced_size = 0
        self.synced_entries: dict[str, int] = {}

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    def sync(self) -> None:
        if self.is_dir:
            self.synced_entries = dict(self.entries)
        else:
            self.synced_blocks = dict(self.blocks)  # blocks are immutable bytes: shared, not copied
            self.synced_size = self.size

    def write(self, data: bytes, offset: int) -> None:
        end = offset + len(data)
        position = offset
        while position < end:
            number, start = divmod(position, BLOCK)
            count = min(BLOCK - start, end - position)
            piece = data[position - offset : position - offset + count]
            if count == BLOCK:
                self.blocks[number] = piece
            else:
                block = bytearray(self.blocks.get(number, _ZERO))
                block[start : start + count] = piece
                self.blocks[number] = bytes(block)
            position += count
        self.size = max(self.size, end)
        self.mtime_ns = time.time_ns()

    def read(self, size: int, offset: int) -> bytes:
        end = min(offset + size, self.size)
        out = bytearray()
        position = offset
        while position < end:
            number, start = divmod(position, BLOCK)
            count = min(BLOCK - start, end - position)
            out += self.blocks.get(number, _ZERO)[start : start + count]
            position += count
        return bytes(out)

    def truncate(self, length: int) -> None:
        last, tail = divmod(length, BLOCK)
        self.blocks = {n: b for n, b in self.blocks.items() if n < last or (n == last and tail)}
        if tail and last in self.blocks:
            self.blocks[last] = self.blocks[last][:tail] + bytes(BLOCK - tail)
        self.size = length
        self.mtime_ns = time.time_ns()


class State:
    """The inodes of one file system; the root is inode 1."""

    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {}
        self.next_ino = ROOT + 1

    def add(self, node: Node) -> int:
        ino = self.next_ino
        self.next_ino += 1
        self.nodes[ino] = node
        return ino


# The state file: a pickled dict of plain values, written by `seed_state` or by a power cut,
# {"next_ino": int, "nodes": {ino: (mode, uid, gid, mtime_ns, blocks, size, entries)}}: the
# synced blocks and entries only, of every inode (what the root no longer reaches is dropped
# when it is read).


def _write_state(state: State, state_file: Path) -> None:
    nodes = {
        ino: (n.mode, n.uid, n.gid, n.mtime_ns, n.synced_blocks, n.synced_size, n.synced_entries)
        for ino, n in state.nodes.items()
    }
    temporary = state_file.with_suffix(".tmp")
    with temporary.open("wb") as sink:
        pickle.dump({"next_ino": state.next_ino, "nodes": nodes}, sink, pickle.HIGHEST_PROTOCOL)
    os.replace(temporary, state_file)


def _read_state(state_file: Path) -> State:
    with state_file.open("rb") as source:
        plain = pickle.load(source)  # noqa: S301 (a state file of this module's format)
    state = State()
    state.next_ino = plain["next_ino"]
    links = {ROOT: 1}
    queue = [ROOT]
    while queue:  # from the root down: what it no longer reaches is gone
        ino = queue.pop()
        mode, uid, gid, mtime_ns, blocks, size, entries = plain["nodes"][ino]
        node = state.nodes[ino] = Node(mode, uid, gid)
        node.mtime_ns = mtime_ns
        node.blocks, node.size, node.entries = dict(blocks), size, dict(entries)
        node.sync()
        for child in entries.values():
            links[child] = links.get(child, 0) + 1
            if child not in state.nodes and child not in queue:
                queue.append(child)
    for ino, node in state.nodes.items():
        node.nlink = links[ino] + (1 if node.is_dir else 0)
    return state


F = TypeVar("F", bound=Callable[..., Any])


def _locked(method: F) -> F:
    """One operation at a time, and none after the power cut."""

    def run(self: Any, *args: Any) -> Any:
        with self.mutex:
            if self.off:
                raise OSError(errno.EIO, "the power is off")
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
            parent, name = self._parent(path)
            if name not in parent.entries:
                raise OSError(errno.ENOENT, path)
            if state.nodes[parent.entries[name]].entries:
                raise OSError(errno.ENOTEMPTY, path)
            self._unlink(parent, name)
            return 0

        @_locked
        def create(self, path: str, mode: int, flags: int) -> int:
            return self._new(path, stat.S_IFREG | (mode & 0o7777))

        @_locked
        def open(self, path: str, flags: int) -> int:
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
            parent, name = self._parent(path)
            if name not in parent.entries:
                raise OSError(errno.ENOENT, path)
            self._unlink(parent, name)
            return 0

        @_locked
        def rename(self, old: str, new: str) -> int:
            source, old_name = self._parent(old)
            target, new_name = self._parent(new)
            if old_name not in source.entries:
                raise OSError(errno.ENOENT, old)
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
                _write_state(state, state_file)

    return LossyOperations()


def main(state_file: Path, mountpoint: Path) -> None:
    import mfusepy  # type: ignore[import-untyped]

    state = _read_state(state_file)
    operations = _operations(state, mfusepy)

    def control() -> None:
        operations.mounted.wait()
        sys.stdout.write("mounted\n")
        sys.stdout.flush()
        for line in sys.stdin:
            if line.strip() == "off":
                break
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
