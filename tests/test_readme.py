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


RUNTIME_MD = Path(__file__).parent.parent / "docs" / "runtime.md"


def test_the_runtime_guides_example_runs_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/runtime.md's first example runs as written; run twice, the second run recovers
    the first's orchestrator, as the guide says."""
    (block, *_) = re.findall(r"```python\n(.*?)```", RUNTIME_MD.read_text(encoding="utf-8"), re.S)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for _ in range(2):
            exec(compile(block, str(RUNTIME_MD), "exec"), {"__name__": "guide"})
    assert out.getvalue().splitlines() == ["idle 1 0", "idle 2 0"]
    # Run in one directory, the README's example and this one do not share a store (the
    # second would meet agents of a spec it does not know).
    stores = r'SQLiteStorage\("([^"]+)"\)'
    guide = set(re.findall(stores, RUNTIME_MD.read_text(encoding="utf-8")))
    assert guide
    assert not guide & set(re.findall(stores, README.read_text(encoding="utf-8")))
