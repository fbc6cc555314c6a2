"""What an agent's JSON may not hold: every value decoded is one the codec writes back as
it was read, or a DecodeError says what is wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest

from jido import ActionResult, AgentSpec, Context, NoParams, Route, action, ok
from jido.serde import DecodeError, agent_from_dict, agent_from_json, directive_from_json, to_json


@attrs.frozen
class Reading:
    value: float = 0.0
    when: datetime | None = None
    stamp: datetime = datetime(2000, 1, 1, tzinfo=UTC)


@action()
def _noop(state: Reading, _: NoParams, ctx: Context) -> ActionResult[Reading]:
    return ok(None)


READER = AgentSpec(name="reader", state=Reading, routes=[Route(pattern="r.noop", target=_noop)])


def _agent(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "r1",
        "spec": "reader",
        "state": {"value": 0.0},
        "version": 0,
        "status": "idle",
        "slices": {},
    }
    return {**base, **fields}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_a_float_in_state_that_is_not_finite_is_refused(literal: str) -> None:
    """NaN and the infinities (1e400 reads as one) have no JSON form: an agent holding one
    could never be written out again, so it does not decode."""
    text = json.dumps(_agent()).replace('"value": 0.0', f'"value": {literal}')
    with pytest.raises(DecodeError) as info:
        agent_from_json(text, READER)
    assert "not JSON" in str(info.value) or "finite" in str(info.value)


def test_a_huge_integer_in_a_float_field_or_a_delay_says_what_is_wrong() -> None:
    """An integer past the largest float is kept in a float field (JSON can write it); as a
    schedule's delay it is no finite number of seconds, and the error says so."""
    big = 10**400
    agent = agent_from_dict(_agent(state={"value": big}), READER)
    assert agent.state.value == big
    signal = {"id": "x", "source": "/s", "type": "t"}
    text = json.dumps({"kind": "schedule", "delay": big, "signal": signal})
    with pytest.raises(DecodeError, match="delay must be finite and >= 0"):
        directive_from_json(text)


@pytest.mark.parametrize(
    "text",
    [
        "2020-W01-1",  # a week date
        "20200101T000000",  # basic format
        "2020-01-01",  # a date alone
        "2020-01-01 00:00",  # a space, no seconds
        "2020-01-01T00:00:00+0100",  # an offset without its colon
        "\u0662\u0660\u0662\u0660-01-01T00:00:00Z",  # digits of another script
        "2020-13-01T00:00:00Z",  # no month 13
    ],
)
def test_a_time_in_state_that_is_not_rfc_3339_is_refused(text: str) -> None:
    """A datetime field reads RFC 3339 (as a signal's ``time`` does), or what
    ``isoformat`` writes beyond it (no offset for a naive datetime, an offset with
    seconds): ``fromisoformat``'s other forms would be written back as other text."""
    with pytest.raises(DecodeError, match="RFC 3339"):
        agent_from_dict(_agent(state={"stamp": text}), READER)
    with pytest.raises(DecodeError, match=r"\$\.when"):  # the same, in an optional field
        agent_from_dict(_agent(state={"when": text}), READER)


@pytest.mark.parametrize(
    "when",
    [
        datetime(2020, 1, 1, 12, 30, 15, 250_000),  # naive
        datetime(2020, 1, 1, 12, 30, tzinfo=UTC),
        datetime(2020, 1, 1, 12, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(2020, 1, 1, 12, 30, tzinfo=timezone(timedelta(seconds=30))),  # no RFC form
        datetime(2020, 1, 1, tzinfo=timezone(timedelta(hours=5, microseconds=15))),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(seconds=-30))),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(seconds=30))),
    ],
)
def test_every_time_the_codec_writes_reads_back(when: datetime) -> None:
    """What the codec writes for a datetime (``isoformat``, as earlier versions wrote it
    too) decodes to an equal one with the same offset, at any year, and RFC 3339's
    lower-case forms read the same."""
    agent = READER.new("r1", {"when": when})
    text = to_json(agent)
    assert json.loads(text)["state"]["when"] == when.isoformat()
    back = agent_from_json(text, READER)
    assert back == agent
    assert back.state.when is not None
    assert back.state.when.utcoffset() == when.utcoffset()
    assert agent_from_json(to_json(back), READER) == agent
    lowered = text.replace("T", "t").replace('+00:00"', 'z"')
    assert agent_from_json(lowered, READER) == agent  # RFC 3339 allows both cases


@pytest.mark.parametrize("slices", [False, 0, "", [], None])
def test_slices_that_are_no_object_are_refused(slices: object) -> None:
    """``slices`` present must be an object (absent, it is none): a false value is not read
    as ``{}``."""
    with pytest.raises(DecodeError, match="plugin slices"):
        agent_from_dict(_agent(slices=slices), READER)
    absent = {k: v for k, v in _agent().items() if k != "slices"}
    assert agent_from_dict(absent, READER).slices == {}


def test_a_key_an_agent_does_not_have_is_refused() -> None:
    """An unknown top-level key is refused, as one in the state is, not dropped."""
    with pytest.raises(DecodeError, match=r"unknown keys \['extra'\]"):
        agent_from_dict(_agent(extra=1), READER)


@pytest.mark.parametrize("agent_id", ["", "a\nb", "\x00", "tab\there", "\u2028"])
def test_an_id_no_agent_may_have_is_refused(agent_id: str) -> None:
    """An id the runtime would refuse (empty, a line break or control character) does not
    decode either, with the check AgentSpec.new makes."""
    with pytest.raises(ValueError, match="agent id") as made:
        READER.new(agent_id)
    with pytest.raises(DecodeError) as decoded:
        agent_from_dict(_agent(id=agent_id), READER)
    assert decoded.value.what == "agent id"
    assert str(made.value) in str(decoded.value)
