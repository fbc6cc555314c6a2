"""The ``jido`` command line: ``demo``, ``review``, ``graph``.

Bad input (an unloadable spec, a malformed line) is reported as one line on stderr, with the
line number where there is one, and exit code 2.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from jido import AgentSpec, Error, Invoke, Signal, to_mermaid
from jido.serde import DecodeError, signal_from_dict

from ._async import AsyncRuntime
from ._dryrun import CannedError, DryRun, Reply
from ._review import describe
from ._sync import SyncRuntime

__all__ = ["app", "load_specs", "main"]

app = typer.Typer(
    name="jido",
    help="Reliable multi-agent systems from a pure core.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_err = Console(stderr=True, highlight=False, soft_wrap=True)


class BadInput(Exception):
    """Input the user must fix; reported as one line, exit code 2."""


def _die(message: str) -> NoReturn:
    _err.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code=2)


def load_specs(ref: str) -> tuple[AgentSpec[Any], tuple[AgentSpec[Any], ...]]:
    """Load ``module:name`` or ``path/to/file.py:name``: the spec, and every spec its module
    lists in ``SPECS`` (so children it spawns can be found).

    Raises:
        BadInput: the module, the attribute or the spec cannot be loaded.
    """
    target, sep, name = ref.rpartition(":")
    if not sep or not target or not name:
        raise BadInput(f"spec {ref!r}: expected MODULE:NAME or FILE.py:NAME")
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise BadInput(f"spec {ref!r}: no file {target}")
            mod_spec = importlib.util.spec_from_file_location(path.stem, path)
            if mod_spec is None or mod_spec.loader is None:
                raise BadInput(f"spec {ref!r}: cannot load {target}")
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[path.stem] = module
            mod_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except BadInput:
        raise
    except Exception as exc:
        raise BadInput(f"spec {ref!r}: {type(exc).__name__}: {exc}") from None
    spec = getattr(module, name, None)
    if not isinstance(spec, AgentSpec):
        raise BadInput(f"spec {ref!r}: {name} is not an AgentSpec")
    others = getattr(module, "SPECS", ())
    specs = tuple(s for s in others if isinstance(s, AgentSpec))
    return spec, specs if spec in specs else (spec, *specs)


def _read_script(path: Path) -> list[Signal | float]:
    """Signals (CloudEvents JSON, one per line) and ``{"advance": seconds}`` lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{path}: {exc.strerror or exc}") from None
    out: list[Signal | float] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path}:{lineno}: not JSON: {exc.msg}") from None
        if isinstance(raw, dict) and set(raw) == {"advance"}:
            secs = raw["advance"]
            if isinstance(secs, bool) or not isinstance(secs, int | float) or secs < 0:
                raise BadInput(f"{path}:{lineno}: advance needs a number of seconds >= 0")
            out.append(float(secs))
            continue
        try:
            out.append(signal_from_dict(raw))
        except DecodeError as exc:
            raise BadInput(f"{path}:{lineno}: {exc.reason}") from None
    return out


def _read_replies(path: Path | None) -> dict[str, Reply]:
    if path is None:
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"{path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: expected an object of effect name to reply")
    replies: dict[str, Reply] = {}
    for effect, reply in raw.items():
        if isinstance(reply, dict) and set(reply) == {"$error"}:
            err = reply["$error"]
            if not isinstance(err, dict):
                raise BadInput(f"{path}: {effect}: $error needs {{type, message}}")
            replies[effect] = CannedError(
                str(err.get("type", "Error")), str(err.get("message", ""))
            )
        else:
            replies[effect] = reply
    return replies


@app.command()
def review(
    spec: Annotated[
        str, typer.Argument(help="The root agent's spec: MODULE:NAME or FILE.py:NAME.")
    ],
    signals: Annotated[
        Path,
        typer.Argument(help='JSON lines: CloudEvents signals, or {"advance": seconds}.'),
    ],
    format: Annotated[str, typer.Option("--format", "-f", help="text, md or json.")] = "text",
    agent_id: Annotated[
        str | None, typer.Option("--agent-id", help="The root agent's id (default: spec name).")
    ] = None,
    replies: Annotated[
        Path | None,
        typer.Option(help='Canned effect replies: {"effect": result | {"$error": {...}}}.'),
    ] = None,
) -> None:
    """Dry-run SIGNALS through SPEC and print what would happen; no effect is performed."""
    if format not in ("text", "md", "markdown", "json"):
        _die(f"unknown format {format!r}: use text, md or json")
    try:
        root, specs = load_specs(spec)
        script = _read_script(signals)
        canned = _read_replies(replies)
    except BadInput as exc:
        _die(str(exc))
    run = DryRun(specs, replies=canned)
    rid = agent_id or root.name
    run.start(root, rid)
    for item in script:
        if isinstance(item, float):
            run.advance(item)
        else:
            run.send(rid, item)
    report = run.review(title=f"Dry-run review of {root.name} ({signals.name})")
    typer.echo(report.render(format), nl=False)


@app.command()
def graph(
    spec: Annotated[str, typer.Argument(help="MODULE:NAME or FILE.py:NAME.")],
) -> None:
    """Print SPEC's routes, or its FSM, as a Mermaid diagram."""
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
) -> None:
    """Run the ContentOps example: an orchestrator, writer agents, effects, a deadline."""
    from jido_examples import contentops

    if runtime not in ("async", "sync"):
        _die(f"unknown runtime {runtime!r}: use async or sync")
    chosen = topics or ["release notes", "migration guide", "flaky benchmark story"]
    out = Console(highlight=False, soft_wrap=True)
    request = ("contentops.run.requested", {"topics": chosen})
    # A second request arrives while the run is going: the FSM refuses it.
    too_soon = ("contentops.run.requested", {"topics": ["too soon"]})
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

        async def run() -> tuple[Any, ...]:
            async with AsyncRuntime(
                contentops.SPECS, effects=contentops.ASYNC_EFFECTS, sinks=["audit"], record=True
            ) as art:
                await art.start(contentops.ORCHESTRATOR, "orchestrator")
                await art.cast("orchestrator", *request)
                await art.cast("orchestrator", *too_soon)
                await art.wait_idle(timeout=30)
                stats = art.statistics()
                report = await art.shutdown()
                return (tuple(art.trace), art.sink("audit"), stats, report)

        trace, audit, stats, report = asyncio.run(run())
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
    out.print(f"orchestrator status: {agent.status}")
    out.print(f"drafts: {dict(state.drafts)}")
    out.print(f"failed: {dict(state.failed)}")
    out.print(f"report: {state.report}")
    out.print(f"audit sink: {[s.type for s in audit]}")
    out.print(f"effects invoked: {effects}; {extra}")
    out.print(f"signals handled: {len(trace)}")


def main(argv: Sequence[str] | None = None) -> None:
    """The console script's entry point."""
    app(args=list(argv) if argv is not None else None)
