"""The documentation's promises: its code runs, its diagram is the machine's, and it names every
public name, every stored table and every module."""

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


SQLITE_SECTION = "SQLite (`deletion-requests-sqlite`)"
POSTGRES_SECTION = "PostgreSQL (`deletion-requests-postgres`)"


def _undocumented_in(section: str, names: list[str]) -> list[str]:
    """The *names* that *section* of docs/storage.md never mentions in code."""
    text = _section((ROOT / "docs/storage.md").read_text(), section)
    return [name for name in names if not re.search(rf"`{re.escape(name)}`", text)]


def test_storage_describes_every_sqlite_table_index_and_trigger(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "tables.db"):
        pass
    with sqlite3.connect(tmp_path / "tables.db") as conn:
        names = {
            kind: [
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%'",
                    (kind,),
                )
            ]
            for kind in ("table", "index", "trigger")
        }
    conn.close()
    assert {"tasks", "job_tallies"} <= set(names["table"])
    assert {"task_identifiers_by_hash", "jobs_by_id"} <= set(names["index"])
    assert names["trigger"]
    for kind, found in names.items():
        assert _undocumented_in(SQLITE_SECTION, found) == [], f"SQLite {kind}s missing"


def test_storage_describes_every_postgres_table_and_index() -> None:
    """From the schema's own statements, so that no server is needed."""
    source = (ROOT / "adapters/postgres/src/deletion_requests_postgres/_schema.py").read_text()
    created = re.findall(r"CREATE (?:UNIQUE )?(?:TABLE|INDEX) (?:IF NOT EXISTS )?(\w+)", source)
    dropped = set(re.findall(r"DROP (?:TABLE|INDEX) (?:IF EXISTS )?(\w+)", source))
    names = [name for name in created if name not in dropped]
    assert {"tasks", "schema_version", "jobs", "task_identifiers_by_hash"} <= set(names)
    assert _undocumented_in(POSTGRES_SECTION, names) == []


ARCHITECTURE_SECTIONS = {
    "src/deletion_requests": "The core",
    "adapters/http/src/deletion_requests_http": "The HTTP adapter",
    "adapters/sqlite/src/deletion_requests_sqlite": "SQLite",
    "adapters/postgres/src/deletion_requests_postgres": "PostgreSQL",
    "adapters/jsonfiles/src/deletion_requests_jsonfiles": "JSON files",
    "adapters/client/src/deletion_requests_client": "The client",
}
"""Each package, by the heading of its section in docs/architecture.md."""
MODULE_ROW = re.compile(r"^\| `([\w/]+\.py)` \|", re.MULTILINE)


def _section(text: str, title: str) -> str:
    """The part of *text* under the heading *title*, up to the next heading of its level or
    higher."""
    found = re.search(rf"^(#+) {re.escape(title)}\n", text, re.MULTILINE)
    assert found, f"docs/architecture.md has no heading {title!r}"
    level = len(found.group(1))
    following = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(text, found.end())
    return text[found.end() : following.start() if following else len(text)]


@pytest.mark.parametrize("package", sorted(ARCHITECTURE_SECTIONS))
def test_architecture_has_a_row_for_every_module(package: str) -> None:
    root = ROOT / package
    modules = {
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if path.name not in {"__init__.py", "__main__.py"}
    }
    assert modules, f"{package} holds no module"
    section = _section((ROOT / "docs/architecture.md").read_text(), ARCHITECTURE_SECTIONS[package])
    rows = MODULE_ROW.findall(section)
    assert len(rows) == len(set(rows)), f"a module of {package} has two rows"
    assert sorted(modules - set(rows)) == [], f"modules of {package} without a row"
    assert sorted(set(rows) - modules) == [], f"rows for modules {package} does not hold"
