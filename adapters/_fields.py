"""Field access shared by every transform: a dotted path into the parsed native record (a dict:
JSON object, XML element, CSV row or fixed-width fields), and `FieldError`, which names the path
and the kind of failure; `_field` makes a converter of one value a transform of a record."""

from __future__ import annotations

import types
from typing import Any, Literal, Protocol, TypeVar, cast, overload

__all__ = ["FieldError", "get", "items", "opt"]

_MISSING = object()


class FieldError(ValueError):
    """One field of a native record is missing or has a value the shared schema does not accept."""

    def __init__(self, reason: str, *, field: str, kind: str = "value") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field if field.startswith("$") else f"$.{field}"
        self.kind = kind


_PARTS: dict[str, tuple[str, ...]] = {}


def _lookup(native: Any, path: str) -> Any:
    if type(native) is dict and path in native:  # the common case: a flat key
        return native[path]
    parts = _PARTS.get(path)
    if parts is None:
        parts = _PARTS[path] = tuple(path.split("."))
    value = native
    for depth, part in enumerate(parts):
        if isinstance(value, dict):
            if part not in value:
                return _MISSING
            value = value[part]
        elif isinstance(value, list) and part.isdigit():
            if int(part) >= len(value):
                return _MISSING
            value = value[int(part)]
        elif value is None or (type(value) is str and not value.strip()):
            return _MISSING  # an absent or blank parent: the field is missing, not malformed
        else:
            # A parent of the wrong shape (e.g. `forare` as text where an object is expected) is
            # a malformed record, never "no value": reading it as missing would drop data silently.
            where = ".".join(parts[:depth])
            want = "a list" if part.isdigit() else "an object"
            raise FieldError(f"Expected {want}, got `{type(value).__name__}`", field=where)
    return value


def _blank(value: Any) -> bool:
    return value is _MISSING or value is None or (type(value) is str and (not value or value.isspace()))


def _missing(path: str) -> FieldError:
    return FieldError("Expected a value, got none (missing required field)", field=path, kind="missing-field")


def get(native: Any, path: str) -> Any:
    """The value at ``path``; a missing, null or blank value is a `FieldError` (kind ``missing-field``)."""
    value = _lookup(native, path)
    if _blank(value):
        raise _missing(path)
    return value


def opt(native: Any, path: str) -> Any:
    """The value at ``path`` or None when it is missing, null or blank."""
    value = _lookup(native, path)
    return None if _blank(value) else value


def items(native: Any, path: str) -> list[Any]:
    """The values at ``path`` as a list: one XML child is a dict, several are a list, none is ``[]``."""
    value = opt(native, path)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _Convert(Protocol[T_co]):
    """``convert(value, path, ...)``: a plain function, whose code `_field` inspects."""

    __code__: types.CodeType
    __name__: str

    def __call__(self, value: Any, path: str, /, *args: Any, **kwargs: Any) -> T_co: ...


class _Transform(Protocol[T_co]):
    """``fn(native, path, ..., optional=False)``: the converted value, or None when ``optional`` and blank."""

    @overload
    def __call__(
        self, native: Any, path: str, /, *args: Any, optional: Literal[False] = False, **kwargs: Any
    ) -> T_co: ...
    @overload
    def __call__(self, native: Any, path: str, /, *args: Any, optional: bool, **kwargs: Any) -> T_co | None: ...


def _field(convert: _Convert[T]) -> _Transform[T]:
    """Make ``convert(value, path, ...)`` a transform ``fn(native, path, ..., optional=False)``.

    The value is looked up once; a blank one is a `FieldError` (``missing-field``), or None when ``optional``.
    """
    code = convert.__code__
    if code.co_argcount == 2 and not code.co_kwonlyargcount and not code.co_flags & 0x0C:
        # the common shape, convert(value, path): no *args/**kwargs to pack on every record
        def transform(native: Any, path: str, *, optional: bool = False) -> T | None:
            value = native.get(path, _MISSING) if type(native) is dict else _MISSING
            if value is _MISSING:
                value = _lookup(native, path)
            if value is None or value is _MISSING or (type(value) is str and (not value or value.isspace())):
                if optional:
                    return None
                raise _missing(path)
            return convert(value, path)

        fn: Any = transform  # Any: a function with a `convert` attribute, which no function type can say
    else:

        def transform_args(native: Any, path: str, *args: Any, optional: bool = False, **kwargs: Any) -> T | None:
            value = _lookup(native, path)
            if _blank(value):
                if optional:
                    return None
                raise _missing(path)
            return convert(value, path, *args, **kwargs)

        fn = transform_args
    fn.__name__, fn.__doc__ = convert.__name__, convert.__doc__
    fn.convert = convert
    # either function is a Transform[T]: None only when ``optional`` is true
    return cast("_Transform[T]", fn)
