"""Bank: accounts as agents, moving money by messages that may be lost, late or repeated.

The example system of the deterministic simulation (``jido simulate``). Each account is an
agent; a transfer is a conversation between two of them:

1. ``bank.transfer.requested`` (``{"to", "amount"}``) arrives at the paying account. Its
   signal id is the transfer's id. The account debits itself, keeps the transfer in its
   outbox, and sends ``bank.credit`` to the payee. A request it has seen before (same id) is
   ignored, so a duplicated request moves money once; an unaffordable one is rejected.
2. The payee credits itself unless it has already credited that transfer id (duplicates are
   harmless), and always acknowledges with ``bank.credit.acked``.
3. The acknowledgement takes the transfer out of the payer's outbox. Until then a retry timer
   sends the credit again every :data:`RETRY_SECONDS`, so a lost credit or a lost ack is
   repaired. The first retry tick is a startup schedule, so an account restarted without its
   timers (a crash under ``"restart"`` recovery) starts retrying again.

Invariants (checked by the simulator after every event): no balance is negative, and money
is conserved — the balances plus the money in flight (debited by a payer, not yet credited
by its payee) always add up to the total, so once the system is quiescent the balances alone
do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from jido import (
    ActionResult,
    Agent,
    AgentSpec,
    Context,
    FrozenMap,
    NoParams,
    Route,
    action,
    emit_to,
    ok,
    schedule,
)
from jido_interpreters import Scenario, Simulation

__all__ = [
    "ACCOUNT",
    "RETRY_SECONDS",
    "SCENARIO",
    "SPECS",
    "Account",
    "Pending",
    "acknowledge",
    "balances",
    "credit",
    "money_conserved",
    "no_negative_balance",
    "request_transfer",
    "retry",
    "scenario",
]

#: How long a payer waits for an acknowledgement before sending a credit again.
RETRY_SECONDS = 0.05


@attrs.frozen
class Pending:
    """A transfer the payer has debited and the payee has not acknowledged."""

    to: str
    amount: int


@attrs.frozen
class Account:
    """An account's state. Maps keep insertion order, so traces serialize identically.

    Attributes:
        balance: the money it holds.
        requests: transfer requests seen, by id: whether each was accepted.
        outbox: transfers debited here and not yet acknowledged, by id.
        received: transfers credited here, by id: the amount.
        retrying: whether a retry tick is armed: true from the start, since the spec's
            startup schedule arms the first one.
    """

    balance: int = 0
    requests: FrozenMap[str, bool] = attrs.field(factory=FrozenMap)
    outbox: FrozenMap[str, Pending] = attrs.field(factory=FrozenMap)
    received: FrozenMap[str, int] = attrs.field(factory=FrozenMap)
    retrying: bool = True


@attrs.frozen
class TransferRequest:
    """Data of ``bank.transfer.requested``."""

    to: str
    amount: int


@attrs.frozen
class Credit:
    """Data of ``bank.credit``."""

    transfer_id: str
    payer: str
    amount: int


@attrs.frozen
class Ack:
    """Data of ``bank.credit.acked``."""

    transfer_id: str


def _credit(transfer_id: str, payer: str, p: Pending) -> Any:
    return emit_to(
        p.to, "bank.credit", {"transfer_id": transfer_id, "payer": payer, "amount": p.amount}
    )


@action(params=TransferRequest)
def request_transfer(state: Account, p: TransferRequest, ctx: Context) -> ActionResult[Account]:
    """Debit and send the credit, once per request id; reject what cannot be paid."""
    assert ctx.signal is not None
    tid = ctx.signal.id
    if tid in state.requests:
        return ok(state)  # a duplicate of a request already handled
    if p.amount <= 0 or p.to == ctx.agent_id or p.amount > state.balance:
        return ok(attrs.evolve(state, requests=state.requests.set(tid, False)))
    pending = Pending(to=p.to, amount=p.amount)
    new = attrs.evolve(
        state,
        balance=state.balance - p.amount,
        requests=state.requests.set(tid, True),
        outbox=state.outbox.set(tid, pending),
        retrying=True,
    )
    if state.retrying:
        return ok(new, _credit(tid, ctx.agent_id, pending))
    return ok(new, _credit(tid, ctx.agent_id, pending), schedule(RETRY_SECONDS, "bank.retry"))


@action(params=Credit)
def credit(state: Account, p: Credit, ctx: Context) -> ActionResult[Account]:
    """Credit a transfer once, by its id, and acknowledge it every time."""
    ack = emit_to(p.payer, "bank.credit.acked", {"transfer_id": p.transfer_id})
    if p.transfer_id in state.received:
        return ok(state, ack)
    new = attrs.evolve(
        state,
        balance=state.balance + p.amount,
        received=state.received.set(p.transfer_id, p.amount),
    )
    return ok(new, ack)


@action(params=Ack)
def acknowledge(state: Account, p: Ack, ctx: Context) -> ActionResult[Account]:
    """The payee has the money: forget the transfer."""
    if p.transfer_id not in state.outbox:
        return ok(state)
    return ok(attrs.evolve(state, outbox=state.outbox.delete(p.transfer_id)))


@action(params=NoParams)
def retry(state: Account, _: NoParams, ctx: Context) -> ActionResult[Account]:
    """Send every unacknowledged credit again; keep ticking while there are any."""
    if not state.outbox:
        return ok(attrs.evolve(state, retrying=False))
    again = [_credit(tid, ctx.agent_id, p) for tid, p in state.outbox.items()]
    return ok(attrs.evolve(state, retrying=True), *again, schedule(RETRY_SECONDS, "bank.retry"))


ACCOUNT: AgentSpec[Account] = AgentSpec(
    name="account",
    state=Account,
    description="A bank account: pays and is paid by messages, idempotently.",
    routes=[
        Route(pattern="bank.transfer.requested", target=request_transfer),
        Route(pattern="bank.credit", target=credit),
        Route(pattern="bank.credit.acked", target=acknowledge),
        Route(pattern="bank.retry", target=retry),
    ],
    schedules=[schedule(RETRY_SECONDS, "bank.retry")],
)

#: Every spec of the system.
SPECS = (ACCOUNT,)

# ---------------------------------------------------------------------------- invariants


def balances(agents: Mapping[str, Agent[Any]]) -> dict[str, int]:
    """Each account's balance, by id."""
    return {
        agent_id: a.state.balance for agent_id, a in agents.items() if isinstance(a.state, Account)
    }


def no_negative_balance(agents: Mapping[str, Agent[Any]]) -> bool | str:
    """No account holds less than nothing."""
    negative = {k: v for k, v in balances(agents).items() if v < 0}
    return f"negative balances {negative}" if negative else True


def money_conserved(total: int) -> Callable[[Mapping[str, Agent[Any]]], bool | str]:
    """The invariant "balances plus money in flight add up to ``total``".

    Money is in flight from when the payer debits a transfer until the payee credits it
    (the payee's ``received`` has its id), whether or not the ack has arrived.
    """

    def check(agents: Mapping[str, Agent[Any]]) -> bool | str:
        held = sum(balances(agents).values())
        in_flight = 0
        for a in agents.values():
            if not isinstance(a.state, Account):
                continue
            for tid, p in a.state.outbox.items():
                payee = agents.get(p.to)
                if payee is None or tid not in payee.state.received:
                    in_flight += p.amount
        if held + in_flight != total:
            return f"balances {held} + in flight {in_flight} != {total}"
        return True

    return check


# ---------------------------------------------------------------------------- scenarios


def scenario(
    opening: Mapping[str, int],
    transfers: Iterable[tuple[str, str, int, float]],
    *,
    spec: AgentSpec[Account] = ACCOUNT,
    latency: float = 0.001,
) -> Scenario:
    """A bank with these opening balances and transfer requests.

    Args:
        opening: account id to opening balance.
        transfers: ``(payer, payee, amount, at)``: a request sent to ``payer`` at virtual
            time ``at``.
        spec: the account spec (tests pass deliberately broken ones).
        latency: the longest time a message spends in flight.
    """
    accounts = dict(opening)
    requests: Sequence[tuple[str, str, int, float]] = tuple(transfers)

    def setup(sim: Simulation) -> None:
        for agent_id, balance in accounts.items():
            sim.start(spec, agent_id, {"balance": balance})
        for payer, payee, amount, at in requests:
            sim.send(payer, "bank.transfer.requested", {"to": payee, "amount": amount}, at=at)

    return Scenario(
        specs=(spec,),
        setup=setup,
        invariants={
            "no_negative_balance": no_negative_balance,
            "money_conserved": money_conserved(sum(accounts.values())),
        },
        latency=latency,
    )


#: Three accounts and a handful of crossing transfers, one of them unaffordable.
SCENARIO = scenario(
    {"alice": 100, "bob": 50, "carol": 0},
    [
        ("alice", "bob", 30, 0.0),
        ("bob", "carol", 60, 0.0),
        ("carol", "alice", 10, 0.001),
        ("alice", "carol", 25, 0.002),
        ("bob", "alice", 200, 0.002),
        ("carol", "bob", 5, 0.01),
    ],
)
