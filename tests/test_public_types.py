"""The public API's types: correct user code type-checks, and the slips the types exist to
catch are errors.

mypy (strict, with the returns plugin, as the project is checked) runs once on modules
written to a temporary directory: ``good.py`` and ``readme.py`` (the README's Python
examples, in order, as ``test_readme`` runs them), which must give no error, and ``bad.py``,
whose every line marked ``# E: <text>`` must give an error containing that text, and no
other line any error. mypy is slow, so the snippets are batched into this one run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

GOOD = dedent(
    """
    from __future__ import annotations

    import attrs

    from jido import ActionResult, AgentSpec, Context, Plugin, Route, SetState, action, cmd, ok
    from jido import serde
    from jido_interpreters import AsyncRuntime, DryRun, Simulation, SyncRuntime


    @attrs.frozen
    class Counter:
        count: int = 0


    @attrs.frozen
    class Audit:
        seen: int = 0


    @action
    def increment(state: Counter, params: object, ctx: Context) -> ActionResult[Counter]:
        return ok(attrs.evolve(state, count=state.count + 1))


    @action
    def reset(state: Counter, params: object, ctx: Context) -> ActionResult[Counter]:
        return ok(state, ops=[SetState({"count": 0})])  # any iterable of ops


    @action
    def audit(state: Audit, params: object, ctx: Context) -> ActionResult[Audit]:
        return ok(Audit(state.seen + 1))


    audit_plugin = Plugin(
        name="audit", state=Audit, routes=[Route(pattern="audit.**", target=audit)]
    )
    plugin_typed: Plugin[Audit] = audit_plugin
    bare = Plugin(name="bare")  # no state: an EmptyState slice

    spec = AgentSpec(
        name="counter",
        state=Counter,
        routes=[Route(pattern="counter.increment", target=increment)],
        actions=[increment, reset],
        plugins=[audit_plugin, bare],
    )
    spec_typed: AgentSpec[Counter] = spec
    audit_route = Route(pattern="audit.seen", target=audit)

    # cmd takes instructions one by one or in a list; a plugin's action runs on its slice.
    counted = cmd(spec, spec.new("c1"), [(increment, {}), "increment", audit])
    count: int = counted.agent.state.count
    cmd(spec, counted.agent, (audit, {}))

    # What startup stamps is schedules: their signals are there to read.
    first = spec.startup(spec.new("c1"))[0]
    first_id: str = first.signal.id


    # Runtimes given the spec itself, and serde, give agents of its state class.
    def run() -> None:
        rt = SyncRuntime([spec])
        started: int = rt.start(spec, "c1").state.count
        by_name = rt.start("counter", "c2")  # by name: an agent of any state
        label: str = by_name.state.whatever
        dry: int = DryRun([spec]).start(spec, "c1", {"count": 2}).state.count
        simulated: int = Simulation([spec]).start(spec, "c1", Counter(1)).state.count
        back = serde.agent_from_json(serde.to_json(spec.new("c1")), spec)
        decoded: int = back.state.count
        codec = serde.Codec()
        again: int = codec.agent_from_json(codec.to_json(back), spec).state.count


    async def arun() -> None:
        async with AsyncRuntime([spec]) as rt:
            started: int = (await rt.start(spec, "c1")).state.count
    increment_route = Route(pattern="counter.increment", target=increment)
    """
)

BAD = dedent(
    """
    from __future__ import annotations

    from jido import Agent, AgentSpec, Plugin, Route, serde
    from jido_interpreters import AsyncRuntime, Simulation, SyncRuntime

    from good import Audit, Counter, audit, audit_route, bare, increment, increment_route, spec

    # Routes and actions of another state class than the spec's or the plugin's.
    AgentSpec(name="a", state=Counter, routes=[audit_route])  # E: "S" of "AgentSpec"
    AgentSpec(name="a", state=Counter, actions=[audit])  # E: "S" of "AgentSpec"
    Plugin(name="p", state=Audit, routes=[increment_route])  # E: "P" of "Plugin"
    Plugin(name="p", state=Audit, actions=[increment])  # E: "P" of "Plugin"
    slice_of_audits: Plugin[Audit] = bare  # E: "Plugin[EmptyState]"


    # An agent's state read as another class than its spec's, or started with one.
    def run(rt: SyncRuntime, sim: Simulation, text: str) -> None:
        label: str = rt.start(spec, "c1").state.count  # E: Incompatible types in assignment
        rt.start(spec, "c2", Audit())  # E: of "start"
        sim.start(spec, "c3", Audit())  # E: of "start"
        audited: Agent[Audit] = serde.agent_from_json(text, spec)  # E: expected "AgentSpec[Audit]"


    async def arun(rt: AsyncRuntime) -> None:
        label: str = (await rt.start(spec, "c1")).state.count  # E: Incompatible types
    """
)

CONFIG = """\
[mypy]
strict = true
plugins = returns.contrib.mypy.returns_plugin
mypy_path = {core}:{interpreters}
"""

# ``path:line: error: message  [code]``
ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<message>.*)$")


@pytest.fixture(scope="module")
def errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[int, list[str]]]:
    """mypy's errors on ``good.py`` and ``bad.py``, by file name and line."""
    where = tmp_path_factory.mktemp("types")
    (where / "good.py").write_text(GOOD)
    (where / "bad.py").write_text(BAD)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    (where / "readme.py").write_text("\n".join(blocks))
    config = where / "mypy.ini"
    config.write_text(CONFIG.format(core=ROOT / "core", interpreters=ROOT / "interpreters"))
    # In another process: mypy run in this one changes the recursion limit and the garbage
    # collector's thresholds for good, which tests run after it would see.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(config),
            "--cache-dir",
            str(where / ".mypy_cache"),
            "--no-error-summary",
            "--hide-error-context",
            str(where / "good.py"),
            str(where / "bad.py"),
            str(where / "readme.py"),
        ],
        cwd=where,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    stdout, stderr = done.stdout, done.stderr
    assert not stderr, stderr
    found: dict[str, dict[int, list[str]]] = {"good.py": {}, "bad.py": {}, "readme.py": {}}
    for text in stdout.splitlines():
        match = ERROR.match(text)
        if match:
            name = Path(match["file"]).name
            found.setdefault(name, {}).setdefault(int(match["line"]), []).append(match["message"])
    return found


def expected(source: str) -> dict[int, str]:
    """The lines of ``source`` marked ``# E: <text>``, to the text their error contains."""
    return {
        number: line.split("# E: ", 1)[1].strip()
        for number, line in enumerate(source.splitlines(), start=1)
        if "# E: " in line
    }


def test_correct_code_type_checks(errors: dict[str, dict[int, list[str]]]) -> None:
    """Routes, actions and plugins of the spec's own state are accepted."""
    assert errors["good.py"] == {}


def test_the_readme_examples_type_check(errors: dict[str, dict[int, list[str]]]) -> None:
    """The README's examples are correct user code to mypy too."""
    assert errors["readme.py"] == {}


def test_each_slip_is_a_type_error(errors: dict[str, dict[int, list[str]]]) -> None:
    """Every marked line of ``bad.py`` gives the error it names, and no other line errs."""
    want = expected(BAD)
    got = errors["bad.py"]
    assert sorted(got) == sorted(want), got
    for line, fragment in want.items():
        assert any(fragment in message for message in got[line]), (line, got[line])
