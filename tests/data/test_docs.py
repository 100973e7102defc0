"""The code blocks of docs/data.md run, in order, in one namespace."""

import re
from pathlib import Path

import ember

DOC = Path(__file__).resolve().parents[2] / "docs" / "data.md"


def test_docs_data_page_code_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 8
    ember.manual_seed(0)
    namespace: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{DOC.name}[block {i}]", "exec"), namespace)  # noqa: S102
