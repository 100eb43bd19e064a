"""Field minimisation: the delivered record holds only the fields its recipient may see.

A `View` is compiled once per (record type, field set): the dropped fields become one
precomputed ``replace`` keyword dict (each dropped field back to its default, which the
wire format omits), so minimising a record is a single ``msgspec.structs.replace`` call,
not a walk over the record. The envelope's subjects are cut to the persons, organisations
and vehicles that the kept fields name, so a dropped driver does not ride along in
``subjects``.
"""

from __future__ import annotations

import types
import typing

import msgspec

from samband.schemas import RECORD_TYPES, Envelope, Handling, OrganisationRef, PersonRef, VehicleRef

__all__ = ["View", "view_for"]

_REF_TYPES = (PersonRef, OrganisationRef, VehicleRef)


def _holds_refs(tp) -> bool:
    """Can a field of type ``tp`` hold a subject reference (directly, in a union or a tuple)?"""
    if isinstance(tp, type) and issubclass(tp, _REF_TYPES):
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType, tuple):
        return any(_holds_refs(a) for a in typing.get_args(tp) if a is not Ellipsis)
    return False


def _inner_refs(tp) -> tuple[str, ...]:
    """For a tuple of structs that name subjects (a vehicle control's identified passengers), the
    attributes of each item that hold them; empty for any other field."""
    if typing.get_origin(tp) is not tuple:
        return ()
    for item in typing.get_args(tp):
        if isinstance(item, type) and issubclass(item, msgspec.Struct) and not issubclass(item, _REF_TYPES):
            hints = typing.get_type_hints(item)
            return tuple(f for f in item.__struct_fields__ if _holds_refs(hints[f]))
    return ()


class View:
    """How one record type is cut down to one field set."""

    __slots__ = ("_marked", "drop", "fields", "nested_refs", "record_type", "ref_fields")

    def __init__(self, record_type: str, fields: tuple[str, ...]) -> None:
        cls = RECORD_TYPES[record_type]
        self.record_type, self.fields = record_type, fields
        keep = set(fields)
        info = msgspec.structs.fields(cls)
        self.drop = {
            f.name: (f.default_factory() if f.default_factory is not msgspec.NODEFAULT else f.default)
            for f in info
            if f.name not in keep
        }
        hints = typing.get_type_hints(cls)
        self.ref_fields = tuple(f.name for f in info if f.name in keep and _holds_refs(hints[f.name]))
        self.nested_refs = tuple(
            (f.name, inner) for f in info if f.name in keep and (inner := _inner_refs(hints[f.name]))
        )
        self._marked: dict[Handling, Handling] = {}

    def subjects(self, record, subjects: tuple) -> tuple:
        named: set = set()
        for name in self.ref_fields:
            value = getattr(record, name)
            if value is None:
                continue
            if isinstance(value, tuple):
                named.update(value)
            else:
                named.add(value)
        for name, inner in self.nested_refs:
            for item in getattr(record, name):
                for attr in inner:
                    named.add(getattr(item, attr))
        return tuple(s for s in subjects if s in named)

    def apply(self, env: Envelope, decision) -> Envelope:
        record = msgspec.structs.replace(env.record, **self.drop) if self.drop else env.record
        changes = {
            "record": record,
            "subjects": self.subjects(record, env.subjects),
            "legal_basis": decision.legal_basis,
        }
        if decision.no_onward_sharing and not env.handling.no_onward_sharing:
            marked = self._marked.get(env.handling)
            if marked is None:
                if len(self._marked) > 256:  # handlings with named recipients vary; keep the cache small
                    self._marked.clear()
                marked = self._marked[env.handling] = msgspec.structs.replace(env.handling, no_onward_sharing=True)
            changes["handling"] = marked
        return msgspec.structs.replace(env, **changes)


def view_for(record_type: str, fields: tuple[str, ...]) -> View:
    return View(record_type, fields)
