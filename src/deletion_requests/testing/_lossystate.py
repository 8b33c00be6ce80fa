"""The in-memory state of the lossy file system of `_lossyfs`: inodes with their live and
their synced contents, and the state file that carries what was synced across a power cut.
(Imported by `_lossyfs` run as a script: it needs nothing of the package.)"""

from __future__ import annotations

import os
import pickle
import stat
import time
from pathlib import Path

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


def write_state(state: State, state_file: Path) -> None:
    nodes = {
        ino: (n.mode, n.uid, n.gid, n.mtime_ns, n.synced_blocks, n.synced_size, n.synced_entries)
        for ino, n in state.nodes.items()
    }
    temporary = state_file.with_suffix(".tmp")
    with temporary.open("wb") as sink:
        pickle.dump({"next_ino": state.next_ino, "nodes": nodes}, sink, pickle.HIGHEST_PROTOCOL)
    os.replace(temporary, state_file)


def read_state(state_file: Path) -> State:
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
