"""The documentation's promises: its code runs, its diagram is the machine's, and it names every
public name and every SQLite table."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from types import ModuleType

import pytest
from deletion_requests_sqlite import SqliteStore

import deletion_requests
import deletion_requests.stores
import deletion_requests.testing
import deletion_requests.wire
from deletion_requests._diagram import embedded_diagram, lifecycle_mermaid

ROOT = Path(__file__).resolve().parent.parent
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize(
    "document",
    [
        "README.md",
        "docs/library.md",
        "docs/handoff.md",
        "docs/callbacks.md",
        "docs/destinations.md",
    ],
)
def test_python_examples_run(document: str) -> None:
    blocks = PYTHON_BLOCK.findall((ROOT / document).read_text())
    assert blocks, f"{document} has no python example"
    for block in blocks:
        exec(compile(block, document, "exec"), {"__name__": "docs_example"})  # noqa: S102


def test_committed_diagram_is_the_machine() -> None:
    committed = embedded_diagram((ROOT / "docs/lifecycle.md").read_text())
    assert committed == lifecycle_mermaid(), (
        "docs/lifecycle.md is stale: run `uv run python -m deletion_requests._diagram "
        "docs/lifecycle.md`"
    )


def test_docs_links_resolve() -> None:
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", document.read_text()):
            assert (document.parent / target).exists(), f"{document.name} links to {target}"


def _documented(document: str, names: list[str]) -> list[str]:
    """The *names* that *document* never mentions in code (`name`, `name(...)`, `name.x`)."""
    text = (ROOT / document).read_text()
    return [name for name in names if not re.search(rf"`{re.escape(name)}[`(.\[ ]", text)]


@pytest.mark.parametrize(
    ("module", "document"),
    [
        (deletion_requests, "docs/library.md"),
        (deletion_requests.wire, "docs/library.md"),
        (deletion_requests.stores, "docs/storage.md"),
        (deletion_requests.testing, "docs/storage.md"),
    ],
    ids=["embedder", "server", "store-author", "testing"],
)
def test_every_public_name_is_documented(module: ModuleType, document: str) -> None:
    assert _documented(document, module.__all__) == [], f"{module.__name__} names missing"


FACES = (deletion_requests, deletion_requests.wire, deletion_requests.stores)


def test_every_public_name_resolves() -> None:
    for module in (*FACES, deletion_requests.testing):
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"


@pytest.mark.parametrize(
    ("one", "other"),
    [(one, other) for i, one in enumerate(FACES) for other in FACES[i + 1 :]],
    ids=lambda module: module.__name__,
)
def test_the_public_faces_do_not_overlap(one: ModuleType, other: ModuleType) -> None:
    assert set(one.__all__) & set(other.__all__) == set()


def test_storage_lists_every_sqlite_table(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "tables.db"):
        pass
    with sqlite3.connect(tmp_path / "tables.db") as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
    conn.close()
    assert "tasks" in tables
    assert _documented("docs/storage.md", tables) == []
