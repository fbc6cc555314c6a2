"""The ``jido`` command line: ``demo``, ``review``, ``graph``, ``simulate``, ``replay``.

Bad input (an unloadable spec, a malformed line) is reported as one line on stderr, with the
line number where there is one, and exit code 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, NoReturn, TypeAlias, assert_never, final

import attrs
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jido import ActionCrashed, AgentSpec, Error, Invoke, Signal, to_mermaid
from jido.serde import DecodeError, EncodeError, signal_from_dict

from ._async import AsyncRuntime
from ._checks import seconds
from ._dryrun import DryRun, Reply, canned_error_from_json
from ._faults import NO_FAULTS, FaultPlan, fault_plan_from_json
from ._jsonl import loads, split_lines
from ._kernel import RunawayError, UnknownAgent
from ._outcomes import as_text
from ._review import describe
from ._sim_events import InvariantViolated, SimulationResult, crash_message
from ._sim_trace import replay as replay_trace
from ._sim_trace import simulation_to_jsonl, trace_failure, trace_spec
from ._simulation import Scenario, Simulation
from ._sqlite import SQLiteStorage
from ._sync import SyncRuntime

__all__ = ["app", "load_specs", "main"]

app = typer.Typer(
    name="jido",
    help="Reliable multi-agent systems from a pure core.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _console(*, stderr: bool = False) -> Console:
    # Emoji codes off too: user text such as ":smile:" is printed as written.
    return Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)


#: Everything the CLI prints with rich markup escapes the text it did not write itself
#: (topics, ids, paths, messages), or prints it with ``markup=False``.
_err = _console(stderr=True)


class BadInput(Exception):
    """Input the user must fix; reported as one line, exit code 2."""


def _say(label: str, message: str) -> None:
    """One ``label: message`` line on stderr (``error``, ``failed``), the message as written."""
    _err.print(f"[bold red]{label}:[/] {escape(message)}", markup=True)


def _die(message: str) -> NoReturn:
    _say("error", message)
    raise typer.Exit(code=2)


def _fail(message: str) -> NoReturn:
    """A run that failed (a crash, an invariant): one ``failed:`` line, exit code 1."""
    _say("failed", message)
    raise typer.Exit(code=1)


@contextlib.contextmanager
def _first_on_path(directory: str) -> Iterator[None]:
    """``directory`` at the front of ``sys.path`` for the duration (a module loaded then may
    import its neighbours)."""
    sys.path.insert(0, directory)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(directory)  # the first occurrence: this one


def _file_module_name(path: Path) -> str:
    # Unique per file, and no module's name: a file named like a module (jido.py, json.py)
    # must not take its place in sys.modules.
    digest = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogatepass")).hexdigest()
    return f"_jido_spec_{digest[:16]}_{path.stem}"


def _load_module(ref: str, target: str) -> ModuleType:
    """The module of a ``MODULE:NAME`` (imported with the working directory first on
    ``sys.path``, as ``python -m`` does) or a ``FILE.py:NAME`` (run afresh, with the file's
    directory first on ``sys.path``, under a name of its own in ``sys.modules``).

    Raises:
        BadInput: the module cannot be found or loaded, or raised (or called ``sys.exit``)
            while it was, or ``target`` is a file whose name does not end in ``.py``.
    """
    try:
        if not target.endswith(".py"):
            if Path(target).is_file():
                # Imported as a module, "specs.txt" reads as the module "specs": say what
                # is wrong rather than that no such module exists.
                raise BadInput(f"spec {ref!r}: {target} is a file, and a spec file must end in .py")
            with _first_on_path(os.getcwd()):
                return importlib.import_module(target)
        path = Path(target)
        if not path.is_file():
            raise BadInput(f"spec {ref!r}: no file {target}")
        name = _file_module_name(path)
        mod_spec = importlib.util.spec_from_file_location(name, path)
        if mod_spec is None or mod_spec.loader is None:
            raise BadInput(f"spec {ref!r}: cannot load {target}")
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module  # before it runs: attrs and typing look classes up there
        try:
            with _first_on_path(str(path.resolve().parent)):
                mod_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    except BadInput:
        raise
    except SystemExit as exc:
        # A module that ends the process as it is imported (an unguarded script entry
        # point) would end the command with it, silently and with its exit code.
        raise BadInput(f"spec {ref!r}: loading it called sys.exit({exc.code!r})") from None
    except Exception as exc:
        raise BadInput(f"spec {ref!r}: {type(exc).__name__}: {exc}") from None


def _module_of(ref: str) -> tuple[ModuleType, str]:
    """The module of ``MODULE:NAME`` or ``FILE.py:NAME``, loaded, and NAME.

    Raises:
        BadInput: ``ref`` is not of that form, or the module cannot be loaded.
    """
    target, sep, name = ref.rpartition(":")
    if not sep or not target or not name:
        raise BadInput(f"spec {ref!r}: expected MODULE:NAME or FILE.py:NAME")
    return _load_module(ref, target), name


def _load(
    ref: str, loaded: tuple[ModuleType, str] | None = None
) -> tuple[ModuleType, AgentSpec[Any], tuple[AgentSpec[Any], ...]]:
    """:func:`load_specs`, and the module the specs came from (``loaded``, if given: what
    :func:`_module_of` returned for ``ref``)."""
    module, name = loaded or _module_of(ref)
    listed = getattr(module, "SPECS", ())
    listed = listed if isinstance(listed, list | tuple) else ()
    specs = tuple(s for s in listed if isinstance(s, AgentSpec))
    spec = getattr(module, name, None)
    if not isinstance(spec, AgentSpec):
        # NAME may also be the name of a spec the module lists in SPECS.
        spec = next((s for s in specs if s.name == name), None)
    if spec is None:
        found = {k for k, v in vars(module).items() if isinstance(v, AgentSpec)}
        found |= {s.name for s in specs}
        has = f"its specs: {', '.join(sorted(found))}" if found else "it defines no AgentSpec"
        what = "is not an AgentSpec" if hasattr(module, name) else "is not in the module"
        raise BadInput(f"spec {ref!r}: {name} {what} ({has})")
    return module, spec, specs if spec in specs else (spec, *specs)


def load_specs(ref: str) -> tuple[AgentSpec[Any], tuple[AgentSpec[Any], ...]]:
    """Load ``module:name`` or ``path/to/file.py:name``: the spec (a module variable, or the
    name of a spec the module lists in ``SPECS``), and every spec its module lists in
    ``SPECS`` (so children it spawns can be found).

    A module is imported with the working directory first on ``sys.path`` (so
    ``jido graph myagents:SPEC`` finds ``./myagents.py``); a file is run with its own
    directory first on it (so it may import the modules beside it), under a name of its own
    in ``sys.modules`` (a file named ``json.py`` does not replace the module ``json``).

    Raises:
        BadInput: the module, the attribute or the spec cannot be loaded.
    """
    _, spec, specs = _load(ref)
    return spec, specs


def _read_text(path: Path) -> str:
    """A UTF-8 text file's contents.

    Raises:
        BadInput: it cannot be read, or it is not UTF-8.
    """
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None


@final
@attrs.frozen
class _Send:
    """A script line sending ``signal``: to the agent ``to``, or to the root agent (``None``:
    a plain CloudEvent line)."""

    signal: Signal
    to: str | None = None


@final
@attrs.frozen
class _Advance:
    """A script line moving virtual time on by ``seconds`` (finite, >= 0)."""

    seconds: float


#: One line of a review script.
_Line: TypeAlias = _Send | _Advance

#: The attributes every CloudEvent has. A JSON object with none of them cannot be a signal,
#: so one with "to" or "signal" is read as an addressed line (and checked as one); an
#: object with them is a signal, whose extensions may well be called "to" or "signal".
_CLOUDEVENT_REQUIRED = frozenset({"id", "source", "type"})


def _addressed(raw: dict[str, Any], where: str) -> _Send:
    """An addressed line, ``{"to": agent id, "signal": CloudEvent}`` (as the inputs of a
    simulation trace), read strictly.

    Raises:
        BadInput: a key is missing or extra, ``to`` is not an agent id, or ``signal`` is not
            a CloudEvent; the message names ``where``.
    """
    shape = '{"to": agent id, "signal": CloudEvent}'
    missing = [json.dumps(k) for k in ("to", "signal") if k not in raw]
    if missing:
        raise BadInput(f"{where}: expected {shape}: {', '.join(missing)} missing")
    extra = [json.dumps(k, ensure_ascii=False) for k in sorted(set(raw) - {"to", "signal"})]
    if extra:
        raise BadInput(f"{where}: expected {shape}: {', '.join(extra)} unexpected")
    to = raw["to"]
    if not isinstance(to, str) or not to:
        raise BadInput(f'{where}: "to" must be an agent id (a non-empty string), not {to!r:.60}')
    try:
        return _Send(signal_from_dict(raw["signal"]), to)
    except DecodeError as exc:
        raise BadInput(f'{where}: "signal": {exc.reason}') from None


def _read_script(path: Path) -> list[tuple[int, _Line]]:
    """The lines of a review script, each with its line number (blank lines skipped): a
    signal for the root agent (CloudEvents JSON), a signal for the agent named
    (``{"to": agent id, "signal": CloudEvent}``), or ``{"advance": seconds}``.

    Raises:
        BadInput: the file cannot be read, or a line is none of these; the message names
            the line.
    """
    text = _read_text(path)
    out: list[tuple[int, _Line]] = []
    for lineno, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            raw = loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{where}: not JSON: {exc.msg}") from None
        except ValueError as exc:
            raise BadInput(f"{where}: {exc}") from None
        if isinstance(raw, dict) and set(raw) == {"advance"}:
            secs = seconds(raw["advance"])
            if secs is None:
                raise BadInput(f"{where}: advance needs a finite number of seconds >= 0")
            out.append((lineno, _Advance(secs)))
            continue
        if (
            isinstance(raw, dict)
            and not _CLOUDEVENT_REQUIRED & set(raw)
            and ("to" in raw or "signal" in raw)
        ):
            out.append((lineno, _addressed(raw, where)))
            continue
        try:
            out.append((lineno, _Send(signal_from_dict(raw))))
        except DecodeError as exc:
            raise BadInput(f"{where}: {exc.reason}") from None
    return out


@final
@attrs.frozen
class _Start:
    """An agent ``--start`` asks for besides the root: its id and its spec."""

    agent_id: str
    spec: AgentSpec[Any]

    @property
    def option(self) -> str:
        """As it was given: ``ID=NAME``."""
        return f"{self.agent_id}={self.spec.name}"


def _parse_starts(
    values: Sequence[str], specs: Sequence[AgentSpec[Any]], root_id: str
) -> list[_Start]:
    """The agents ``--start ID=NAME`` asks for, in order. NAME is the name of a spec
    :func:`load_specs` found (the root's, or one its module lists in ``SPECS``): the specs
    the dry run knows, as a spawned child's must be. ID is split off at the last ``=``
    (a spec's name has none; an id may).

    Raises:
        BadInput: a value is not ``ID=NAME``, NAME is no spec's, or ID is the root's or
            given twice.
    """
    by_name = {s.name: s for s in specs}
    names = ", ".join(sorted(by_name))
    out: list[_Start] = []
    taken = {root_id}
    for value in values:
        agent_id, sep, name = value.rpartition("=")
        if not sep or not agent_id or not name:
            raise BadInput(
                f"--start {value!r}: expected ID=NAME, an agent id and a spec's name"
                f" (the specs: {names})"
            )
        spec = by_name.get(name)
        if spec is None:
            raise BadInput(f"--start {value!r}: no spec named {name!r} (the specs: {names})")
        if agent_id == root_id:
            raise BadInput(
                f"--start {value!r}: {agent_id!r} is the root agent's id (--agent-id names it)"
            )
        if agent_id in taken:
            raise BadInput(f"--start {value!r}: agent id {agent_id!r} is given twice")
        taken.add(agent_id)
        out.append(_Start(agent_id, spec))
    return out


def _check_writable(path: Path) -> None:
    """Check, before a long run, that a file can be written at ``path`` when it ends.

    Raises:
        BadInput: ``path`` is a directory, its directory does not exist, or it may not be
            written.
    """
    if path.is_dir():
        raise BadInput(f"{path}: is a directory")
    if not path.parent.is_dir():
        raise BadInput(f"{path}: no directory {path.parent}")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise BadInput(f"{path}: permission denied")


def _read_replies(path: Path | None) -> dict[str, Reply]:
    """Canned replies from a JSON file, read as strictly as SIGNALS (no ``NaN``, no lone
    surrogate).

    A reply ``{"$error": {"type": ..., "message": ...}}`` is a :class:`CannedError`, read by
    :func:`canned_error_from_json` (as a Python caller may).

    Raises:
        BadInput: the file cannot be read, is not JSON, or is not an object of replies, or a
            ``$error`` is not a canned error; the message names the effect.
    """
    if path is None:
        return {}
    try:
        raw = loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    except ValueError as exc:
        raise BadInput(f"{path}: {exc}") from None
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: expected an object of effect name to reply")
    replies: dict[str, Reply] = {}
    for effect, reply in raw.items():
        if isinstance(reply, dict) and set(reply) == {"$error"}:
            try:
                replies[effect] = canned_error_from_json(reply["$error"])
            except (ValueError, TypeError) as exc:
                raise BadInput(f"{path}: {effect}: $error: {exc}") from None
        else:
            replies[effect] = reply
    return replies


def _not_running(agent_id: str, known: set[str], running: Sequence[str]) -> str:
    """Why nothing can be sent to ``agent_id``: it has stopped (it is one of ``known``, the
    agents the run has had), or there never was such an agent (the ones ``running`` named)."""
    if agent_id in known:
        return f"agent {agent_id!r} has stopped, nothing reaches it any more"
    return f"no agent {agent_id!r} is running (running: {', '.join(map(repr, running)) or 'none'})"


@app.command()
def review(
    spec: Annotated[
        str, typer.Argument(help="The root agent's spec: MODULE:NAME or FILE.py:NAME.")
    ],
    signals: Annotated[
        Path,
        typer.Argument(
            help='JSON lines: a CloudEvents signal (for the root agent), {"to": agent id, '
            '"signal": CloudEvent} (for any running agent), or {"advance": seconds}.'
        ),
    ],
    format: Annotated[str, typer.Option("--format", "-f", help="text, md or json.")] = "text",
    agent_id: Annotated[
        str | None, typer.Option("--agent-id", help="The root agent's id (default: spec name).")
    ] = None,
    starts: Annotated[
        list[str] | None,
        typer.Option(
            "--start",
            metavar="ID=NAME",
            help="Start another agent too, with the id ID, of the spec named NAME (the "
            "root's, or one its module lists in SPECS), before the script runs (repeatable).",
        ),
    ] = None,
    replies: Annotated[
        Path | None,
        typer.Option(
            help='Canned effect replies: {"effect": result | {"$error": {...}}}; an invoke'
            ' of an effect with none is marked "(no reply)", and a reply no effect used is'
            " noted on stderr."
        ),
    ] = None,
    sinks: Annotated[
        list[str] | None,
        typer.Option(
            "--sink",
            help="A named sink the system has (repeatable); one that received nothing is"
            " noted on stderr.",
        ),
    ] = None,
    max_steps: Annotated[
        int,
        typer.Option(min=1, help="Give up after this many steps in a row: an endless loop."),
    ] = 100_000,
) -> None:
    """Dry-run SIGNALS through SPEC and print what would happen; no effect is performed.

    The root agent (SPEC) starts, then each --start agent in order; a plain signal line goes
    to the root, a {"to": ...} line to the agent it names (any running one: started, or
    spawned earlier in the run).

    Exit code 0 with the review, 1 if the spec crashed (an action raised) or ran away (an
    endless chain of signals: the review of the steps before comes first), 2 on bad input
    (a line sending to an agent that is not running included: one the run refuses comes
    after the review of the lines before it).
    """
    if format not in ("text", "md", "markdown", "json"):
        _die(f"unknown format {format!r}: use text, md or json")
    if "" in (sinks or ()):
        _die("--sink: a sink's name must not be empty (no agent could emit to it)")
    try:
        root, specs = load_specs(spec)
        rid = agent_id or root.name
        others = _parse_starts(starts or (), specs, rid)
        script = _read_script(signals)
        canned = _read_replies(replies)
    except BadInput as exc:
        _die(str(exc))
    run = DryRun(specs, replies=canned, sinks=sinks or (), max_steps=max_steps)
    # The agents the run has had, by id (those started here; a line that cannot be sent adds
    # those the trace shows, spawned children included): one of these that is not running
    # has stopped, while one never seen was never there (a typo, most likely).
    known = {rid, *(other.agent_id for other in others)}
    try:
        try:
            run.start(root, rid)
        except (ValueError, TypeError, LookupError) as exc:
            # As simulate's setup: a state class with a required field, a bad --agent-id.
            _die(f"spec {spec!r}: cannot start agent {rid!r}: {exc}")
        for other in others:
            try:
                run.start(other.spec, other.agent_id)
            except (ValueError, TypeError, LookupError) as exc:
                _die(f"--start {other.option!r}: cannot start agent {other.agent_id!r}: {exc}")
        for lineno, line in script:
            where = f"{signals}:{lineno}"
            match line:
                case _Advance(seconds=secs):
                    try:
                        run.advance(secs)
                    except ValueError:  # past the year 9999 (the only way to be refused here)
                        why = "virtual time passes the end of the calendar"
                        _bad_line(run, root, signals, format, where, why)
                case _Send(signal=sig, to=to):
                    target = rid if to is None else to
                    try:
                        run.send(target, sig)
                    except UnknownAgent:
                        known.update(e.agent_id for e in run.trace)
                        why = _not_running(target, known, run.agent_ids)
                        _bad_line(run, root, signals, format, where, why)
                case _:
                    assert_never(line)
    except (ActionCrashed, RunawayError) as exc:
        # The steps up to the crash are what a reviewer needs to see why: reviewed first.
        _review_so_far(run, root, signals, format)
        _fail(crash_message(exc))
    except typer.Exit:
        raise  # a bad line met on the way: said already
    except Exception as exc:
        # Other user code a step ran (a route guard, a custom strategy) raised: a bug too.
        _review_so_far(run, root, signals, format)
        _fail(_user_code_raised(exc))
    _review_so_far(run, root, signals, format)
    # A sink is any name, and one no agent uses is no error (the script may not reach it);
    # but a --sink that received nothing is most likely a typo, which the review alone would
    # show only as "no sink named ..." problems under the right name.
    for name in dict.fromkeys(sinks or ()):
        if not run.sink(name):
            _err.print(
                f"[bold yellow]note:[/] --sink {escape(repr(name))} received nothing:"
                " no agent emitted to it (a typo?)",
                markup=True,
            )
    # The same for a canned reply: one no effect asked for is most likely under a wrong
    # name, while the effect it was meant for shows "(no reply)" in the review.
    for name in run.unused_replies:
        _err.print(
            f"[bold yellow]note:[/] --replies {escape(repr(name))} was used by no effect:"
            " no agent invoked it (a typo?)",
            markup=True,
        )


def _user_code_raised(exc: Exception) -> str:
    """What a ``failed:`` line says of an exception from user code a step ran other than an
    action (which :func:`crash_message` covers), with the notes it carries (a simulation's
    seed and event)."""
    notes = "".join(f" ({note})" for note in getattr(exc, "__notes__", ()))
    return as_text(
        "user code a step ran (a route guard or a custom strategy) raised"
        f" {type(exc).__name__}: {exc}{notes}"
    )


def _bad_line(
    run: DryRun, root: AgentSpec[Any], signals: Path, format: str, where: str, why: str
) -> NoReturn:
    """A script line the run refused (``where``, for ``why``): the review of the lines before
    it, which a reviewer needs to see how the run got there (what stopped the agent a line
    sends to), then one ``error:`` line; exit code 2, as for other bad input."""
    _review_so_far(run, root, signals, format)
    _die(f"{where}: {why}")


def _review_so_far(run: DryRun, root: AgentSpec[Any], signals: Path, format: str) -> None:
    """Print the review of what ``run`` has done, in ``format``."""
    report = run.review(title=f"Dry-run review of {root.name} ({signals.name})")
    typer.echo(report.render(format), nl=False)


@app.command()
def graph(
    spec: Annotated[str, typer.Argument(help="MODULE:NAME or FILE.py:NAME.")],
) -> None:
    """Print SPEC's routes, or its FSM (and its routes), and its declared schedules, as a
    Mermaid diagram."""
    try:
        root, _ = load_specs(spec)
    except BadInput as exc:
        _die(str(exc))
    typer.echo(to_mermaid(root))


@app.command()
def demo(
    topics: Annotated[
        list[str] | None, typer.Option("--topic", help="A topic to write (repeatable).")
    ] = None,
    runtime: Annotated[
        str, typer.Option(help="async (AsyncRuntime, real time) or sync (SyncRuntime).")
    ] = "async",
    store: Annotated[
        Path | None,
        typer.Option(
            help="Make the run durable in this SQLite file (a new one), then recover the "
            "agents from it in a fresh runtime and compare them with the live ones."
        ),
    ] = None,
) -> None:
    """Run the ContentOps example: an orchestrator, writer agents, effects, a deadline."""
    from jido_examples import contentops

    if runtime not in ("async", "sync"):
        _die(f"unknown runtime {runtime!r}: use async or sync")
    if store is not None and runtime != "async":
        _die("--store needs the async runtime (SyncRuntime keeps no journal)")
    if store is not None and store.exists():
        _die(f"{store} exists: pass a new file for --store (it holds one run)")
    if store is not None and not store.parent.is_dir():
        _die(f"{store}: no directory {store.parent}")
    chosen = topics or ["release notes", "migration guide", "flaky benchmark story"]
    out = _console()
    request = ("contentops.run.requested", {"topics": chosen})
    # A second request arrives while the run is going: the FSM refuses it.
    too_soon = ("contentops.run.requested", {"topics": ["too soon"]})
    recovery = ""
    if runtime == "sync":
        rt = SyncRuntime(contentops.SPECS, effects=contentops.EFFECTS, sinks=["audit"])
        rt.start(contentops.ORCHESTRATOR, "orchestrator")
        rt.cast("orchestrator", *request)
        rt.cast("orchestrator", *too_soon)
        rt.run_until_idle()
        rt.advance(contentops.DEADLINE_SECONDS)
        trace, audit = rt.trace, rt.sink("audit")
        agent, effects = rt.agent("orchestrator"), len(rt.effect_log)
        title = "SyncRuntime, virtual time"
        extra = f"running agents: {list(rt.agent_ids)}"
    else:

        def runtime_over(storage: SQLiteStorage | None) -> AsyncRuntime:
            return AsyncRuntime(
                contentops.SPECS,
                effects=contentops.ASYNC_EFFECTS,
                sinks=["audit"],
                record=True,
                storage=storage,
            )

        async def run() -> tuple[Any, ...]:
            storage = None if store is None else SQLiteStorage(store)
            async with runtime_over(storage) as art:
                await art.start(contentops.ORCHESTRATOR, "orchestrator")
                await art.cast("orchestrator", *request)
                await art.cast("orchestrator", *too_soon)
                await art.wait_idle(timeout=30)
                stats = art.statistics()
                live = {i: art.agent(i) for i in art.agent_ids}
                report = await art.shutdown()
            if storage is not None:
                storage.close()
            return (tuple(art.trace), art.sink("audit"), stats, report, live)

        async def recover(path: Path) -> dict[str, Any]:
            # A fresh runtime, as after a restart: the agents come back from the journal.
            storage = SQLiteStorage(path)
            async with runtime_over(storage) as art:
                await art.restore()
                recovered = {i: art.agent(i) for i in art.agent_ids}
            storage.close()
            return recovered

        trace, audit, stats, report, live = asyncio.run(run())
        if store is not None:
            recovered = asyncio.run(recover(store))
            same = "equal to" if recovered == live else "[bold red]different from[/]"
            recovery = (
                f"recovered from {escape(str(store))} by replaying its journal: "
                f"{escape(', '.join(recovered))}, {same} the live agents"
            )
        final = [e.after for e in trace if e.agent_id == "orchestrator"]
        agent = final[-1]
        effects = sum(1 for e in trace for d in e.directives if isinstance(d, Invoke))
        title = "AsyncRuntime, real time"
        extra = (
            f"steps: {stats.steps}, step latency p50 {stats.step_latency_p50_us:.0f} µs; "
            f"shutdown drained={report.drained}, timers cancelled={report.cancelled_timers}"
        )
    out.rule(f"ContentOps demo: {title}")
    for e in trace:
        out.print(
            f"[dim]{e.index:>3} t={e.at:<6.3g}[/] [cyan]{escape(e.agent_id)}[/] "
            f"<- [bold]{escape(e.signal.type)}[/]"
        )
        for d in e.directives:
            style = "red" if isinstance(d, Error) else "green"
            out.print(f"      [{style}]{escape(describe(d))}[/]")
        for p in e.problems:
            out.print(f"      [red]! {escape(p.message)}[/]")
    out.rule("Outcome")
    state = agent.state
    for line in (
        f"orchestrator status: {agent.status}",
        f"drafts: {dict(state.drafts)}",
        f"failed: {dict(state.failed)}",
        f"report: {state.report}",
        f"audit sink: {[s.type for s in audit]}",
        f"effects invoked: {effects}; {extra}",
        f"signals handled: {len(trace)}",
    ):
        out.print(line, markup=False)
    if recovery:
        out.print(recovery)


def _portable(ref: str) -> str:
    """``ref`` as a trace header records it: a ``FILE.py:NAME`` with the file's absolute
    path, so that ``jido replay`` finds it from any directory."""
    target, _, name = ref.rpartition(":")
    if target.endswith(".py"):
        return f"{Path(target).resolve()}:{name}"
    return ref


def _simulation_scenario(ref: str) -> Scenario:
    """What ``simulate`` and ``replay`` run for ``MODULE:NAME``: the scenario NAME, if NAME
    is a Scenario (so one module may hold several); else, NAME being a spec, its module's
    ``SCENARIO`` if it has one, or one agent of the spec, named after it, with no inputs.

    Raises:
        BadInput: as :func:`load_specs`, or the module's ``SCENARIO`` is not a Scenario, or
            does not use the spec.
    """
    loaded = _module_of(ref)
    named = getattr(loaded[0], loaded[1], None)
    if isinstance(named, Scenario):
        return named
    module, root, specs = _load(ref, loaded)
    found = getattr(module, "SCENARIO", None)
    if found is None:

        def setup(sim: Simulation) -> None:
            sim.start(root, root.name)

        return Scenario(specs=specs, setup=setup)
    if not isinstance(found, Scenario):
        raise BadInput(f"spec {ref!r}: SCENARIO is not a jido_interpreters.Scenario")
    if all(spec is not root for spec in found.specs):
        # The scenario would run, and the trace name, a spec it does not use.
        names = ", ".join(repr(spec.name) for spec in found.specs)
        if any(spec.name == root.name for spec in found.specs):
            runs = f"another spec named {root.name!r} (of {names})"
        else:
            runs = f"{names}, not {root.name!r}"
        raise BadInput(
            f"spec {ref!r}: its module's SCENARIO runs {runs}; name the scenario to run"
            " (MODULE:SCENARIO_NAME), or one of its specs"
        )
    return found


def _progress() -> Progress:
    """A progress bar on stderr, gone once the run ends. Off where stderr is no terminal:
    there it would only leave an empty line before what follows (an error, say)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
        disable=not _err.is_interactive,
    )


@app.command()
def simulate(
    spec: Annotated[
        str,
        typer.Argument(
            help="MODULE:NAME or FILE.py:NAME: a Scenario to run, or a spec (then the "
            "module's SCENARIO, if any, says what to start and send; else one agent of the "
            "spec runs)."
        ),
    ],
    seed: Annotated[int, typer.Option(help="Seeds every choice: delivery order, faults.")] = 0,
    events: Annotated[
        int,
        typer.Option(min=0, help="Stop after this many events (the setup's starts not counted)."),
    ] = 10_000,
    until: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Stop at this virtual time (seconds after the epoch): what is due by then "
            "happens. A system with a cron job or a timer that re-arms never runs out of "
            "events by itself; bound it here.",
        ),
    ] = None,
    faults: Annotated[
        Path | None,
        typer.Option(help='A fault plan, JSON: {"drop": 0.1, "crash": 0.01, ...}.'),
    ] = None,
    trace_out: Annotated[
        Path | None,
        typer.Option("--trace-out", help="Write the trace here, as JSON lines (for replay)."),
    ] = None,
) -> None:
    """Run SPEC's system in a deterministic simulation, checking its invariants.

    The summary says how the run ended: quiescent (nothing left to do), idle (nothing
    pending but timers, at the --until bound), busy (signals or effect outcomes still on
    their way at the bound), or stopped (out of events, or failed), and which directive
    problems the run had, if any (a sink that does not exist, a bad cron expression).

    Exit code 1 if an invariant fails (or an action, or the scenario's setup, raises), 2 on
    bad input (a setup raising ValueError, TypeError or LookupError included: say, starting
    an agent of a spec the scenario does not list; a --trace-out that cannot be written is
    refused before the run).
    """
    try:
        if trace_out is not None:
            _check_writable(trace_out)  # now, not once the run is over
        scenario = _simulation_scenario(spec)
        plan: FaultPlan = NO_FAULTS
        if faults is not None:
            try:
                plan = fault_plan_from_json(_read_text(faults), name=str(faults))
            except DecodeError as exc:
                raise BadInput(f"{exc.what}: {exc.reason}") from None
        try:
            sim = scenario.simulation(seed=seed, faults=plan)
        except (ValueError, TypeError, LookupError) as exc:
            raise BadInput(f"spec {spec!r}: the scenario's setup failed: {exc}") from None
        except Exception as exc:  # the setup is user code: a bug in it is a failed run
            _fail(f"the scenario's setup raised {type(exc).__name__}: {crash_message(exc)}")
        try:
            # Before the run, not as it begins: whether the bound is past the end of the
            # calendar depends on the scenario's epoch.
            sim._time_bound(until)
        except ValueError as exc:
            raise BadInput(f"--{exc}") from None  # "--until must be ...", "--until 1e+300 s ..."
    except BadInput as exc:
        _die(str(exc))
    failure: InvariantViolated | ActionCrashed | None = None
    with _progress() as bar:
        task = bar.add_task(f"simulating, seed {seed}", total=events)
        try:
            result: SimulationResult = sim.run(
                events, until=until, progress=lambda n: bar.update(task, completed=n)
            )
        except InvariantViolated as exc:
            failure, result = exc, exc.result
        except ActionCrashed as exc:
            failure, result = exc, sim.result()
        except Exception as exc:
            # A route guard or a custom strategy raised. The trace records no such end (a
            # replay would raise it again, not compare), so none is written: the seed is
            # what repeats the run.
            _fail(_user_code_raised(exc))
    written: str | None = None  # why the trace could not be written, if it could not
    if trace_out is not None:
        try:
            text = simulation_to_jsonl(result, codec=scenario.codec, spec=_portable(spec))
            # Encoded before the file is opened: a trace that is no UTF-8 text (an agent's
            # state holding a string with a lone surrogate) leaves no empty file behind.
            text.encode("utf-8")
        except (EncodeError, UnicodeEncodeError) as exc:
            written = f"{trace_out}: the trace cannot be written as JSON text: {exc}"
        else:
            try:
                trace_out.write_text(text, encoding="utf-8")
            except OSError as exc:
                written = f"{trace_out}: {exc.strerror or exc}"
    out = _console()
    ending = _ending(result, failed=failure is not None)
    out.print(
        f"seed {seed}: {result.event_count} events, {result.now:.6g} s of virtual time, {ending}"
    )
    out.print(", ".join(f"{kind} {n}" for kind, n in result.counts.items()))
    out.print(
        "agents: " + ", ".join(f"{escape(a.id)} v{a.version}" for a in result.agents.values())
    )
    _print_problems(out, result)
    if written is not None:
        # Still the run's result above and its failure below: exit code 1 if it failed.
        _say("error", written)
    elif trace_out is not None:
        out.print(f"trace: {escape(str(trace_out))}")
    if failure is not None:
        _say("failed", crash_message(failure))
        if trace_out is not None and written is None:
            _err.print(f"replay it: jido replay {escape(str(trace_out))}")
        raise typer.Exit(code=1)
    if written is not None:
        raise typer.Exit(code=2)


#: How many of a run's problems its summary quotes (the trace has them all).
_QUOTED_PROBLEMS = 5


def _print_problems(out: Console, result: SimulationResult) -> None:
    """The run's directive problems (a sink that does not exist, a bad cron expression), if
    it had any: their number and the first few, one line each. A run that went on after one
    still did something other than what its agents asked."""
    if not result.problems:
        return
    out.print(f"[bold red]problems: {len(result.problems)}[/]")
    for p in result.problems[:_QUOTED_PROBLEMS]:
        out.print(f"  [red]![/] {escape(f'[{p.kind.value}] {p.message}')}")
    if len(result.problems) > _QUOTED_PROBLEMS:
        out.print(f"  ... and {len(result.problems) - _QUOTED_PROBLEMS} more (see the trace)")


def _ending(result: SimulationResult, *, failed: bool) -> str:
    """How a run ended, for its summary."""
    if result.quiescent:
        return "quiescent"
    if failed:
        return "stopped"
    if result.out_of_events:
        return "stopped: out of events"
    if result.idle:
        return "idle: only timers pending"
    if result.until is None:
        return "stopped: nothing more is due before the end of the calendar"
    return "busy: signals or effect outcomes still on their way"


@app.command()
def replay(
    trace: Annotated[Path, typer.Argument(help="A trace written by jido simulate --trace-out.")],
    spec: Annotated[
        str | None,
        typer.Argument(
            help="MODULE:NAME or FILE.py:NAME, as simulated (default: what the trace names)."
        ),
    ] = None,
) -> None:
    """Re-run a simulation trace from its header and compare it line by line.

    Without SPEC, the module (or .py file) the trace's header names is imported: replaying
    a trace runs code. Replay only traces you trust, or pass SPEC yourself.

    Exit code 0 if the replay is identical, 1 at the first divergence (a spec, fake or
    invariant that changed behaviour) or if it is identical to a trace of a failed run (an
    invariant violated, an action crashed: the failure reproduces), 2 on bad input.
    """
    try:
        text = _read_text(trace)
        if spec is None:
            try:
                spec = trace_spec(text)
            except DecodeError as exc:
                raise BadInput(f"{trace}: {exc.what}: {exc.reason}") from None
            if spec is None:
                raise BadInput(
                    f"{trace}: the trace names no spec (one written from Python names none);"
                    " pass the scenario it ran, or its spec: MODULE:NAME"
                )
        scenario = _simulation_scenario(spec)
    except BadInput as exc:
        _die(str(exc))
    lines = sum(1 for line in split_lines(text) if line.strip())
    try:
        with _progress() as bar:
            task = bar.add_task("replaying", total=max(lines - 1, 0))
            divergence = replay_trace(
                text, scenario, progress=lambda n: bar.update(task, completed=n)
            )
    except DecodeError as exc:
        _die(f"{trace}: {exc.what}: {exc.reason}")
    except (ValueError, TypeError, LookupError) as exc:
        _die(f"{trace}: the recorded setup does not fit {spec!r}: {exc}")
    if divergence is None:
        failure = trace_failure(text)
        if failure is None:
            typer.echo(f"identical: {lines} lines replayed")
            return
        typer.echo(f"reproduces: {failure} ({lines} lines replayed identically)")
        raise typer.Exit(code=1)
    typer.echo(f"diverged at {divergence.describe()}")
    typer.echo(f"  recorded: {divergence.expected}")
    typer.echo(f"  replayed: {divergence.actual}")
    raise typer.Exit(code=1)


def main(argv: Sequence[str] | None = None) -> None:
    """The console script's entry point."""
    app(args=list(argv) if argv is not None else None)


if __name__ == "__main__":  # python -m jido_interpreters.cli
    main()
