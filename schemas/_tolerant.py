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
from typing import Annotated, Any, TypeVar, Union, cast

import msgspec

__all__ = ["tolerant"]

S = TypeVar("S", bound=msgspec.Struct)


def _rewrite(tp: Any) -> Any:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tolerant(tp)
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *meta = typing.get_args(tp)
        return Annotated[(_rewrite(base), *meta)]
    if origin in (Union, types.UnionType):
        return functools.reduce(lambda a, b: a | b, (_rewrite(a) for a in typing.get_args(tp)))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            # GenericAlias is what ``tuple[x, ...]`` builds; spelt out because the item is a runtime value
            return types.GenericAlias(tuple, (_rewrite(args[0]), ...))
        return types.GenericAlias(tuple, tuple(_rewrite(a) for a in args))
    if origin in (list, frozenset, set):
        return origin[_rewrite(typing.get_args(tp)[0])]
    if origin is dict:
        k, v = typing.get_args(tp)
        return types.GenericAlias(dict, (_rewrite(k), _rewrite(v)))
    return tp


def tolerant(cls: type[S]) -> type[S]:
    """The twin of ``cls`` (and of every struct inside it) that ignores unknown fields."""
    # the twin subclasses ``cls`` (bases=(cls,)), which defstruct's return type cannot say
    return cast("type[S]", _twin(cls))


@functools.cache
def _twin(cls: type[msgspec.Struct]) -> type[msgspec.Struct]:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
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
