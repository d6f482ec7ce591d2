"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import SERVER

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_the_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_readme_example_runs(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if SERVER:  # the examples' clusters run on the suite's server too
        monkeypatch.setenv("AMI_SERVER_BIN", SERVER)
    exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
