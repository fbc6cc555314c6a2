"""The README's Python examples run as written (in order, in one namespace, in a scratch
directory), and say what they claim."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"


def test_the_readme_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)
        # The durable example, run again: the count goes on from where it was.
        exec(compile(blocks[-1], str(README), "exec"), namespace)
    assert out.getvalue().splitlines()[-2:] == ["2", "4"]
    assert os.path.exists(tmp_path / "agents.db")
