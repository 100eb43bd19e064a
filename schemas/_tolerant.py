"""Tolerant twins of the strict schemas: the same types, except that unknown fields are ignored.

A reader on an older minor version of a record type meets fields a newer writer added.
Its tolerant twin (a subclass of the strict type, same tag, same validation, same
``isinstance``) skips them. Strictness stays where the data enters the bus: the router's
ingest and every writer use the strict types (see docs/schemas.md, "Compatibility").
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Annotated, Any, Union

import msgspec

__all__ = ["tolerant"]


def _rewrite(tp: Any) -> Any:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tolerant(tp)
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *meta = typing.get_args(tp)
        return Annotated[(_rewrite(base), *meta)]  # type: ignore[return-value]
    if origin in (Union, types.UnionType):
        return functools.reduce(lambda a, b: a | b, (_rewrite(a) for a in typing.get_args(tp)))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple[_rewrite(args[0]), ...]
        return tuple[tuple(_rewrite(a) for a in args)]  # type: ignore[misc]
    if origin in (list, frozenset, set):
        return origin[_rewrite(typing.get_args(tp)[0])]
    if origin is dict:
        k, v = typing.get_args(tp)
        return dict[_rewrite(k), _rewrite(v)]
    return tp


@functools.cache
def tolerant(cls: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """The twin of ``cls`` (and of every struct inside it) that ignores unknown fields."""
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = []
    for f in msgspec.structs.fields(cls):
        tp = _rewrite(hints[f.name])
        if f.default is not msgspec.NODEFAULT:
            fields.append((f.name, tp, f.default))
        elif f.default_factory is not msgspec.NODEFAULT:
            fields.append((f.name, tp, msgspec.field(default_factory=f.default_factory)))
        else:
            fields.append((f.name, tp))
    twin = msgspec.defstruct(
        cls.__name__,
        fields,
        bases=(cls,),
        module=cls.__module__,
        namespace=_twin_namespace(cls),
        forbid_unknown_fields=False,
        frozen=True,
        kw_only=True,
    )
    twin.__qualname__ = f"tolerant({cls.__qualname__})"
    return twin


def _twin_namespace(cls: type[msgspec.Struct]) -> dict[str, Any]:
    # msgspec compares (and hashes) structs by exact type; a twin must equal the strict
    # value it stands for, or `env.handling == Handling()` would quietly turn false.
    def __eq__(self, other):
        if isinstance(other, cls) and getattr(type(other), "__strict__", type(other)) is cls:
            return msgspec.structs.astuple(self) == msgspec.structs.astuple(other)
        return NotImplemented

    def __ne__(self, other):
        eq = __eq__(self, other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self):
        return hash(cls(**msgspec.structs.asdict(self)))

    return {"__eq__": __eq__, "__ne__": __ne__, "__hash__": __hash__, "__strict__": cls}
