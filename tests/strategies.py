"""Hypothesis strategies for every message and body, derived from their msgspec declarations.

``documents(T)`` draws JSON documents (dicts, lists, strings, numbers) that decode as ``T``:
every bound, pattern, enum and tag the declaration carries (``msgspec.inspect``) is honoured, so
the examples reach deep into the code. ``documents(T, mutate=True)`` also draws, at any node,
what the declaration refuses: a value past a bound, a string breaking its pattern or its length,
a control character, a wrong type, a missing or an unknown field. ``values(T)`` draws the
decoded values themselves.

(hypothesis' ``from_type`` does not read msgspec's constraints, and hypothesis-jsonschema no
longer runs on current hypothesis; msgspec.inspect gives everything needed in a few lines.)
"""

from __future__ import annotations

import enum
import functools
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
#: What breaks a value of any type: another type, extremes of the codec and of SQLite, controls.
WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([-1, 0, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30]),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["", " ", "\x00", "a\nb", "../..", "/", "x" * 10_000, "9999-12-31T00:00:00+00:00", "99999999999y"]),
    st.lists(st.integers(), max_size=2),
    st.just({}),
)


def _weighted(valid: st.SearchStrategy[Any], *odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` nine times in ten, else one of ``odd``: a document usually breaks one rule at a
    time, so refusals are specific and deep fields are reached."""
    return st.integers(0, 19).flatmap(lambda i: odd[i % len(odd)] if i < len(odd) else valid)


def _maybe_wrong(valid: st.SearchStrategy[Any], near: st.SearchStrategy[Any], mutate: bool) -> st.SearchStrategy[Any]:
    return _weighted(valid, near, WRONG) if mutate else valid


def _int(t: mi.IntType, mutate: bool) -> st.SearchStrategy[Any]:
    lo = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else None)
    hi = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else None)
    valid = st.integers(min_value=lo, max_value=hi)
    edges = [x for x in (lo, hi) if x is not None]
    near = st.sampled_from([e + d for e in edges for d in (-1, 1)] or [2**64])
    return _maybe_wrong(valid, near, mutate)


def _str(t: mi.StrType, mutate: bool) -> st.SearchStrategy[Any]:
    lo, hi = t.min_length or 0, t.max_length
    if t.pattern:
        valid = st.from_regex(t.pattern, fullmatch=True).filter(lambda s: lo <= len(s) <= (hi or 10**9))
    else:
        valid = st.text(min_size=lo, max_size=min(hi if hi is not None else lo + 40, lo + 40))
    near_parts = [st.text(max_size=12), st.sampled_from(["\x00", "a/b", "../x", "two\nlines", "\t"])]
    if hi is not None:
        near_parts.append(st.just("x" * (hi + 1)))
    if lo:
        near_parts.append(st.just("x" * (lo - 1)))
    return _maybe_wrong(valid, st.one_of(*near_parts), mutate)


def _struct(t: mi.StructType, mutate: bool) -> st.SearchStrategy[Any]:
    required = {f.encode_name: _strategy(f.type, mutate) for f in t.fields if f.required}
    optional = {f.encode_name: _strategy(f.type, mutate) for f in t.fields if not f.required}
    if t.tag_field is not None:
        required[t.tag_field] = st.just(t.tag)
    doc = st.fixed_dictionaries(required, optional=optional)
    if not mutate:
        return doc
    names = list(required) + list(optional)

    def drop(d: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
        if d:
            d.pop(data.draw(st.sampled_from(sorted(d))), None)
        return d

    broken = st.one_of(
        st.builds(
            lambda d, k, v: {**d, k: v},
            doc,
            st.text(min_size=1, max_size=10).filter(lambda k: k not in names),
            ANY_JSON,
        ),
        st.tuples(doc, st.data()).map(lambda p: drop(dict(p[0]), p[1])),
    )
    return _weighted(doc, broken, WRONG)


def _strategy(t: mi.Type, mutate: bool) -> st.SearchStrategy[Any]:
    if isinstance(t, mi.IntType):
        return _int(t, mutate)
    if isinstance(t, mi.FloatType):
        lo = t.ge if t.ge is not None else t.gt
        hi = t.le if t.le is not None else t.lt
        valid = st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)
        return _maybe_wrong(valid, st.floats(allow_nan=False), mutate)
    if isinstance(t, mi.StrType):
        return _str(t, mutate)
    if isinstance(t, mi.BoolType):
        return _maybe_wrong(st.booleans(), st.sampled_from(["true", 1]), mutate)
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.LiteralType):
        return _maybe_wrong(st.sampled_from(list(t.values)), st.text(max_size=10), mutate)
    if isinstance(t, mi.EnumType):
        members = [m.value for m in t.cls] if issubclass(t.cls, enum.Enum) else []
        return _maybe_wrong(st.sampled_from(members), st.text(max_size=10), mutate)
    if isinstance(t, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        hi = min(t.max_length if t.max_length is not None else 3, 3)
        lo = min(t.min_length or 0, hi)
        valid = st.lists(_strategy(t.item_type, mutate), min_size=lo, max_size=hi)
        near = st.lists(
            _strategy(t.item_type, False), min_size=(t.max_length or 0) + 1, max_size=(t.max_length or 0) + 1
        )
        return _maybe_wrong(valid, near if t.max_length is not None and t.max_length < 200 else st.just([]), mutate)
    if isinstance(t, mi.DictType):
        valid = st.dictionaries(_strategy(t.key_type, mutate), _strategy(t.value_type, mutate), max_size=3)
        return _maybe_wrong(valid, st.lists(ANY_JSON, max_size=2), mutate)
    if isinstance(t, mi.UnionType):
        return st.one_of(*[_strategy(x, mutate) for x in t.types])
    if isinstance(t, mi.StructType):
        return _struct(t, mutate)
    if isinstance(t, mi.AnyType):
        return ANY_JSON
    raise TypeError(f"no strategy for {t!r}")


@functools.cache
def documents(type_: Any, *, mutate: bool = False) -> st.SearchStrategy[Any]:
    """JSON documents of ``type_`` (valid ones; with ``mutate``, refused ones too)."""
    return _strategy(mi.type_info(type_), mutate)


def values(type_: Any, *, mutate: bool = False) -> st.SearchStrategy[Any]:
    """Decoded values of ``type_`` (documents that decode; with ``mutate``, also the raw
    documents that do not, to be refused by the caller)."""

    def convert(doc: Any) -> Any:
        try:
            return msgspec.convert(doc, type_)
        except msgspec.ValidationError:
            return doc

    return documents(type_, mutate=mutate).map(convert)
