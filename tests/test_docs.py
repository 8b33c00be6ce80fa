"""The documentation's promises: its code runs, its diagram is the machine's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deletion_requests._diagram import embedded_diagram, lifecycle_mermaid

ROOT = Path(__file__).resolve().parent.parent
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize(
    "document", ["README.md", "docs/library.md", "docs/handoff.md", "docs/callbacks.md"]
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
