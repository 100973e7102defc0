"""Every ```python block of every docs/*.md page (and the README) runs, in order, in one
namespace per page.

A block fenced as ```python no-run is shown but not executed (for code that needs a GPU,
a network or a long time).
"""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```python([^\n]*)\n(.*?)^```\s*$", re.S | re.M)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of each runnable python block."""
    blocks = []
    for m in BLOCK.finditer(text):
        if "no-run" in m.group(1):
            continue
        blocks.append((text.count("\n", 0, m.start()) + 2, m.group(2)))
    return blocks


def test_block_extraction_skips_no_run_blocks():
    text = "a\n```python\nx = 1\n```\n```python no-run\nraise SystemExit\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n")]


PAGES = {p.name: p for p in DOCS.glob("*.md")} | {"README.md": DOCS.parent / "README.md"}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_docs_page_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # pages may write files (run folders, plots)
    namespace: dict = {"__name__": f"docs_{page[:-3]}"}
    for line, code in python_blocks(PAGES[page].read_text(encoding="utf-8")):
        try:
            exec(compile(code, f"{page}:{line}", "exec"), namespace)
        except Exception as e:  # name the page and the block's first line
            raise AssertionError(f"the python block at {page}:{line} failed: "
                                 f"{type(e).__name__}: {e}") from e
