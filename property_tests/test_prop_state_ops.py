"""Properties of state operations (``SetState``, ``SetPath``, ``DeletePath``, ``DeleteKeys``,
``ReplaceState``), applied directly and through ``step``."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    DeleteKeys,
    DeletePath,
    FrozenMap,
    JsonValue,
    NoParams,
    ProblemKind,
    ReplaceState,
    Route,
    SetPath,
    SetState,
    Signal,
    StateOp,
    action,
    freeze,
    ok,
    step,
    thaw,
)
from jido._state import apply_ops
from jido.testing import json_values


@attrs.frozen
class Inner:
    level: int = 1
    label: str = "inner"


@attrs.frozen
class Doc:
    count: int = 0
    title: str = "untitled"
    meta: FrozenMap[str, Any] = attrs.field(factory=FrozenMap)
    inner: Inner = Inner()


KEYS = ("a", "b", "c")
counts = st.integers(min_value=-(10**6), max_value=10**6)
keys = st.sampled_from(KEYS)
meta_paths = st.lists(keys, min_size=1, max_size=3).map(lambda ks: ("meta", *ks))
small_values = json_values(max_leaves=4)
# Nested maps over the same few keys, so that paths meet existing content.
meta_maps: st.SearchStrategy[Any] = st.recursive(
    st.dictionaries(keys, json_values(max_leaves=2), max_size=3),
    lambda children: st.dictionaries(keys, children | json_values(max_leaves=2), max_size=3),
    max_leaves=8,
).map(freeze)
docs = st.builds(
    Doc,
    count=counts,
    title=st.text(max_size=8),
    meta=meta_maps,
    inner=st.builds(Inner, level=counts, label=st.text(max_size=8)),
)


def read(state: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path``: attribute of an attrs instance, key of a mapping."""
    for name in path:
        state = getattr(state, name) if attrs.has(type(state)) else state[name]
    return state


# -------------------------------------------------------- a reference model on plain dicts


def model_set(d: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``path`` in nested dicts, replacing non-dict intermediates with new dicts."""
    head, rest = path[0], path[1:]
    if not rest:
        d[head] = value
        return
    child = d.get(head)
    if not isinstance(child, dict):
        child = {}
        d[head] = child
    model_set(child, rest, value)


def model_delete(d: dict[str, Any], path: tuple[str, ...]) -> None:
    """Remove ``path`` from nested dicts; a path that does not exist changes nothing."""
    head, rest = path[0], path[1:]
    if not rest:
        d.pop(head, None)
        return
    child = d.get(head)
    if isinstance(child, dict):
        model_delete(child, rest)


meta_ops = st.lists(
    st.one_of(
        st.builds(SetPath, meta_paths, small_values),
        st.builds(DeletePath, meta_paths),
    ),
    max_size=8,
)


# ---------------------------------------------------------------- properties


@given(docs, meta_paths, small_values)
def test_set_path_then_read_gives_the_value(doc: Doc, path: tuple[str, ...], v: JsonValue) -> None:
    """After SetPath(path, v), reading path gives v; other fields are untouched."""
    new = apply_ops(doc, [SetPath(path, v)])
    assert read(new, path) == v
    assert (new.count, new.title, new.inner) == (doc.count, doc.title, doc.inner)


@given(docs, meta_paths, st.lists(small_values, min_size=1, max_size=5))
def test_last_write_to_a_path_wins(doc: Doc, path: tuple[str, ...], vs: list[JsonValue]) -> None:
    """Several SetPath ops on one path leave the last value."""
    new = apply_ops(doc, [SetPath(path, v) for v in vs])
    assert read(new, path) == vs[-1]


def _count_op(kind: str, v: int) -> StateOp:
    match kind:
        case "merge":
            return SetState({"count": v})
        case "set":
            return SetPath(("count",), v)
        case "replace":
            return ReplaceState(Doc(count=v))
        case "delete_key":
            return DeleteKeys(("count",))
        case _:
            return DeletePath(("count",))


count_ops = st.lists(
    st.tuples(st.sampled_from(("merge", "set", "replace", "delete_key", "delete_path")), counts),
    min_size=1,
    max_size=8,
)


@given(docs, count_ops)
def test_ops_apply_in_order(doc: Doc, ops: list[tuple[str, int]]) -> None:
    """Mixed ops on one field apply in order: the last one decides (deletes reset to default)."""
    kind, v = ops[-1]
    expected = 0 if kind.startswith("delete") else v
    new = apply_ops(doc, [_count_op(k, x) for k, x in ops])
    assert new.count == expected


@given(docs, meta_ops)
def test_meta_ops_agree_with_a_dict_model(doc: Doc, ops: list[SetPath | DeletePath]) -> None:
    """SetPath / DeletePath sequences inside a map field act like the same edits on dicts."""
    model = thaw(doc.meta)
    for op in ops:
        if isinstance(op, SetPath):
            model_set(model, op.path[1:], thaw(op.value))
        else:
            model_delete(model, op.path[1:])
    new = apply_ops(doc, ops)
    assert thaw(new.meta) == model
    assert freeze(model) == new.meta


@given(docs, meta_paths)
def test_delete_of_a_missing_path_is_a_no_op(doc: Doc, path: tuple[str, ...]) -> None:
    """DeletePath (and DeleteKeys on a map) of something absent leaves the state equal."""
    missing = ("meta", "zz", *path[1:])  # "zz" is never a generated key
    assert apply_ops(doc, [DeletePath(missing)]) == doc
    assert apply_ops(doc, [DeletePath(("meta", *path[1:], "zz"))]) == doc
    assert apply_ops(doc.meta, [DeleteKeys(("zz",))]) == doc.meta


@given(meta_paths, small_values)
def test_set_path_creates_intermediate_maps(path: tuple[str, ...], v: JsonValue) -> None:
    """SetPath into an empty FrozenMap field creates a FrozenMap at every intermediate key."""
    new = apply_ops(Doc(), [SetPath(path, v)])
    node: Any = new.meta
    for name in path[1:-1]:
        assert isinstance(node, FrozenMap)
        assert set(node) == {name}
        node = node[name]
    assert isinstance(node, FrozenMap)
    assert dict(node) == {path[-1]: v}


@given(docs, meta_ops, meta_maps)
def test_plain_json_values_are_stored_frozen(
    doc: Doc, ops: list[SetPath | DeletePath], merge: FrozenMap[str, Any]
) -> None:
    """Ops carrying plain dicts and lists leave the same, hashable state as frozen values."""
    plain: list[StateOp] = [
        SetPath(op.path, thaw(op.value)) if isinstance(op, SetPath) else op for op in ops
    ]
    plain.append(SetState({"meta": thaw(merge)}))
    frozen: list[StateOp] = [*ops, SetState({"meta": merge})]
    new = apply_ops(doc, plain)
    assert new == apply_ops(doc, frozen)
    assert hash(new) == hash(apply_ops(doc, frozen))


@given(docs, meta_ops)
def test_apply_ops_never_modifies_its_input(doc: Doc, ops: list[SetPath | DeletePath]) -> None:
    """apply_ops returns a new state and leaves the one it was given as it was."""
    before = thaw(doc.meta)
    apply_ops(doc, ops)
    assert thaw(doc.meta) == before


@given(docs, st.lists(st.tuples(st.sampled_from(("count", "title", "inner")), counts), max_size=4))
def test_delete_keys_resets_fields_to_defaults(doc: Doc, picks: list[tuple[str, int]]) -> None:
    """DeleteKeys resets each named attrs field to its default and leaves the others."""
    names = tuple(dict.fromkeys(name for name, _ in picks))
    new = apply_ops(doc, [DeleteKeys(names)])
    default = Doc()
    for f in attrs.fields(Doc):
        want = getattr(default, f.name) if f.name in names else getattr(doc, f.name)
        assert getattr(new, f.name) == want


def _spec_running(ops: list[Any]) -> AgentSpec[Doc]:
    @action()
    def apply(state: Doc, params: NoParams, ctx: Context) -> ActionResult[Doc]:
        """Ask for the given ops."""
        return ok(None, ops=tuple(ops))

    return AgentSpec(name="doc", state=Doc, routes=[Route(pattern="doc.edit", target=apply)])


@given(docs, st.one_of(meta_ops, count_ops.map(lambda ops: [_count_op(k, v) for k, v in ops])))
def test_step_applies_an_actions_ops_like_apply_ops(doc: Doc, ops: list[Any]) -> None:
    """An action returning ok(None, ops=...) moves the agent to apply_ops(state, ops)."""
    spec = _spec_running(ops)
    agent = spec.new("d1", doc)
    result = step(spec, agent, Signal(type="doc.edit", source="/t", id="e1"))
    assert result.problems == ()
    assert result.agent.state == apply_ops(doc, ops)
    assert result.agent.version == agent.version + 1


@given(docs, meta_ops, st.sampled_from(("nope", "missing")))
def test_an_op_on_an_unknown_field_is_a_state_problem(doc: Doc, ops: list[Any], field: str) -> None:
    """Ops naming a field the state lacks give one STATE Error and leave the agent unchanged."""
    spec = _spec_running([*ops, SetPath((field, "x"), 1)])
    agent = spec.new("d1", doc)
    result = step(spec, agent, Signal(type="doc.edit", source="/t", id="e1"))
    assert [p.kind for p in result.problems] == [ProblemKind.STATE]
    assert result.problems[0].details["path"] == (field,)
    assert result.agent == agent
