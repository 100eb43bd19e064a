"""The declarative adapter: a TOML mapping file instead of a mapping module (for network agencies).

The file names the native format, where each field of one shared record type comes from and
how it is transformed (dates, identifiers, amounts), and how to make synthetic samples. It is
validated completely on load; an error names the bad key as a JSON path (``$.fields.vehicle.transform``)
and the file. See ``mappings/transportstyrelsen.toml``.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import msgspec

from samband.schemas import RECORD_TYPES, REGIONS, Envelope

from . import _synthetic as syn
from . import _transforms as t
from ._errors import MappingFileError
from ._formats import ENCODING_NAMES, Csv, FixedWidth, JsonDocument, JsonLines, NativeFormat, Xml

__all__ = ["FORMAT_NAMES", "TRANSFORMS", "DeclarativeMapping", "MappingFile", "load_mapping"]


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class FormatSpec(_Strict, frozen=True, kw_only=True):
    name: str  # jsonl, json, xml, csv, fixed
    encoding: str = "utf-8"
    delimiter: str = ";"
    columns: tuple[str, ...] = ()  # csv: the header, in order (used for samples)
    record_tag: str | None = None  # xml
    root_tag: str = "Export"  # xml
    array: str | None = None  # json: the member holding the records
    type_field: str = "posttyp"  # fixed
    layouts: dict[str, list[tuple[str, int]]] = {}  # fixed: record type code -> [[column, width], ...]


class FieldSpec(_Strict, frozen=True, kw_only=True):
    path: str | None = None
    transform: str = "text"
    format: str | None = None  # date/datetime: strptime format
    unit: Literal["kr", "ore"] = "kr"  # amount
    options: dict[str, str] = {}  # choice: native code -> shared value
    value: str | int | bool | None = None  # constant
    optional: bool = False
    many: bool = False  # a list of values at ``path`` (a tuple field)


class EnvelopeSpec(_Strict, frozen=True, kw_only=True):
    region: str | None = None  # a constant region ...
    region_path: str | None = None  # ... or where the record names it
    operation: str | None = None
    operation_path: str | None = None
    legal_basis: str | None = "LUS 2016:774"


class MappingFile(_Strict, frozen=True, kw_only=True):
    agency: str
    record_type: str
    key: str  # the native key's path: the publish dedupe id
    format: FormatSpec
    envelope: EnvelopeSpec = EnvelopeSpec()
    fields: dict[str, FieldSpec]
    sample: dict[str, str] = {}  # native path -> generator (see _GENERATORS)


FORMAT_NAMES = ("jsonl", "json", "xml", "csv", "fixed")
# by name, each with its own keyword arguments (fmt, unit, options); None for a constant
TRANSFORMS: dict[str, Callable[..., Any] | None] = {
    "text": t.text,
    "integer": t.integer,
    "quantity": t.quantity,
    "amount": t.amount_ore,
    "boolean": t.boolean,
    "date": t.date,
    "datetime": t.datetime,
    "person": t.person,
    "organisation": t.organisation,
    "party": t.party,
    "vehicle": t.vehicle,
    "choice": t.choice,
    "constant": None,
}


def _fail(path: Path, message: str, where: str) -> MappingFileError:
    return MappingFileError(f"{message} - at `{where}` in {path}")


def _validate(spec: MappingFile, path: Path) -> None:
    cls = RECORD_TYPES.get(spec.record_type)
    if cls is None:
        raise _fail(
            path, f"Expected record_type one of the shared record types, got {spec.record_type!r}", "$.record_type"
        )
    names = cls.__struct_fields__
    required = {
        n
        for n, d in zip(
            names, (msgspec.NODEFAULT,) * (len(names) - len(cls.__struct_defaults__)) + cls.__struct_defaults__
        )
        if d is msgspec.NODEFAULT
    }
    for name, f in spec.fields.items():
        where = f"$.fields.{name}"
        if name not in names:
            raise _fail(path, f"Expected a field of {spec.record_type} {names}, got `{name}`", where)
        if f.transform not in TRANSFORMS:
            raise _fail(
                path, f"Expected transform one of {tuple(TRANSFORMS)}, got {f.transform!r}", f"{where}.transform"
            )
        if f.transform == "constant":
            if f.value is None:
                raise _fail(path, "Expected a value for a constant, got none", f"{where}.value")
        elif not f.path:
            raise _fail(
                path, f"Expected the native field's path for transform {f.transform!r}, got none", f"{where}.path"
            )
        if f.transform == "choice" and not f.options:
            raise _fail(
                path, "Expected options (native code = shared value) for a choice, got none", f"{where}.options"
            )
        if f.format is not None and f.transform not in ("date", "datetime"):
            raise _fail(
                path,
                f"Expected format only with transform date or datetime, got it with {f.transform!r}",
                f"{where}.format",
            )
    missing = sorted(required - set(spec.fields))
    if missing:
        raise _fail(
            path,
            f"Expected a mapping for every required field of {spec.record_type}, got none for {missing}",
            "$.fields",
        )
    env = spec.envelope
    if (env.region is None) == (env.region_path is None):
        raise _fail(path, "Expected exactly one of region or region_path", "$.envelope.region")
    if env.region is not None and env.region not in REGIONS:
        raise _fail(path, f"Expected region one of {REGIONS}, got {env.region!r}", "$.envelope.region")
    if (env.operation is None) == (env.operation_path is None):
        raise _fail(path, "Expected exactly one of operation or operation_path", "$.envelope.operation")
    fmt = spec.format
    if fmt.name not in FORMAT_NAMES:
        raise _fail(path, f"Expected format name one of {FORMAT_NAMES}, got {fmt.name!r}", "$.format.name")
    if fmt.name == "xml" and not fmt.record_tag:
        raise _fail(path, "Expected record_tag for an XML format, got none", "$.format.record_tag")
    if fmt.name == "fixed" and not fmt.layouts:
        raise _fail(path, "Expected layouts for a fixed-width format, got none", "$.format.layouts")
    if fmt.encoding.lower() not in ENCODING_NAMES:
        raise _fail(path, f"Expected encoding utf-8, utf-8-sig or latin-1, got {fmt.encoding!r}", "$.format.encoding")
    for native_path, gen in spec.sample.items():
        if gen.split(":", 1)[0] not in _GENERATORS:
            raise _fail(
                path, f"Expected a generator one of {tuple(_GENERATORS)}, got {gen!r}", f"$.sample.{native_path}"
            )


def _native_format(fmt: FormatSpec) -> NativeFormat:
    if fmt.name == "jsonl":
        return JsonLines()
    if fmt.name == "json":
        return JsonDocument(array=fmt.array)
    if fmt.name == "csv":
        return Csv(encoding=fmt.encoding, delimiter=fmt.delimiter, columns=fmt.columns or None)
    if fmt.name == "xml":
        return Xml(record_tag=fmt.record_tag or "", root_tag=fmt.root_tag, encoding=fmt.encoding)
    return FixedWidth(
        layouts={k: [(name, width) for name, width in v] for k, v in fmt.layouts.items()},
        type_field=fmt.type_field,
        encoding=fmt.encoding,
    )


def _gen(spec: str, rng: random.Random, i: int, *, operation: str, region: str) -> Any:
    name, _, arg = spec.partition(":")
    return _GENERATORS[name](rng, i, arg, operation, region)


_GENERATORS = {
    "key": lambda rng, i, arg, op, reg: syn.native_key(rng, arg or "ID"),
    "plate": lambda rng, i, arg, op, reg: syn.plate(rng),
    "orgnr": lambda rng, i, arg, op, reg: syn.orgnr(rng),
    "pnr": lambda rng, i, arg, op, reg: syn.pnr_dashed(rng),
    "pnr12": lambda rng, i, arg, op, reg: syn.pnr_plain(rng),
    "datetime": lambda rng, i, arg, op, reg: syn.moment(rng, i).strftime(arg or "%Y-%m-%dT%H:%M:%S"),
    "date": lambda rng, i, arg, op, reg: syn.day(rng, i).strftime(arg or "%Y-%m-%d"),
    "int": lambda rng, i, arg, op, reg: str(rng.randrange(*(int(x) for x in (arg or "0:100").split(":")))),
    "kronor": lambda rng, i, arg, op, reg: syn.kronor(rng, *(int(x) for x in (arg or "100:10000").split(":"))),
    "choice": lambda rng, i, arg, op, reg: rng.choice(arg.split("|")),
    "const": lambda rng, i, arg, op, reg: arg,
    "region": lambda rng, i, arg, op, reg: reg,
    "operation": lambda rng, i, arg, op, reg: op,
}


def _put(rec: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for p in parents:
        rec = rec.setdefault(p, {})
    rec[last] = value


class DeclarativeMapping:
    """An `AgencyMapping` made from a `MappingFile`: the same runtime, no code."""

    def __init__(self, spec: MappingFile, source: Path) -> None:
        self.spec = spec
        self.source = source
        self.agency = spec.agency
        self.format = spec.format.name
        self.native = _native_format(spec.format)
        self.record_cls = RECORD_TYPES[spec.record_type]

    def __repr__(self) -> str:
        return f"DeclarativeMapping({self.agency!r} from {self.source})"

    def key(self, native: Any) -> str:
        return t.text(native, self.spec.key)

    def _value(self, native: Any, f: FieldSpec) -> Any:
        fn = TRANSFORMS[f.transform]
        if fn is None or f.path is None:  # a constant (validated: every other transform has a path)
            return f.value
        kwargs: dict[str, Any] = {}
        if f.transform in ("date", "datetime") and f.format:
            kwargs["fmt"] = f.format
        if f.transform == "amount":
            kwargs["unit"] = f.unit
        if f.transform == "choice":
            kwargs["options"] = f.options
        if f.many:
            n = len(t.items(native, f.path))
            single = n == 1 and not isinstance(t.opt(native, f.path), list)
            return tuple(fn(native, f.path if single else f"{f.path}.{i}", **kwargs) for i in range(n))
        return fn(native, f.path, optional=f.optional, **kwargs)

    def to_envelope(self, native: Any) -> Envelope:
        values = {name: self._value(native, f) for name, f in self.spec.fields.items()}
        record = self.record_cls(**{k: v for k, v in values.items() if v is not None})
        env = self.spec.envelope
        return t.envelope(
            record,
            # validated: exactly one of region and region_path is set (and of operation, operation_path)
            region=env.region or t.text(native, env.region_path or ""),
            operation=env.operation or t.text(native, env.operation_path or ""),
            legal_basis=env.legal_basis,
            region_field=f"$.{env.region_path or 'region'}",
        )

    def sample(
        self, rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd"
    ) -> list[dict[str, Any]]:
        if not self.spec.sample:
            raise MappingFileError(
                f"Expected a [sample] table to make synthetic records, got none - at `$.sample` in {self.source}"
            )
        out = []
        for i in range(n):
            rec: dict[str, Any] = {}
            for native_path, gen in self.spec.sample.items():
                _put(rec, native_path, _gen(gen, rng, i, operation=operation, region=region))
            out.append(rec)
        return out


def load_mapping(path: Path, *, agency: str | None = None) -> DeclarativeMapping:
    """Load and validate a mapping file; `MappingFileError` names the bad key and the file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingFileError(f"Expected a readable mapping file, got {exc.strerror} - at {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise MappingFileError(f"Expected TOML, got a syntax error ({exc}) - at {path}") from exc
    try:
        # each field on its own first, so an error names the field's key rather than `$.fields[...]`
        for name, value in (data.get("fields") or {}).items() if isinstance(data.get("fields"), dict) else ():
            try:
                msgspec.convert(value, FieldSpec)
            except msgspec.ValidationError as exc:
                where = f"$.fields.{name}"
                text = (
                    str(exc).replace(" - at `$", f" - at `{where}", 1)
                    if " - at `" in str(exc)
                    else f"{exc} - at `{where}`"
                )
                raise MappingFileError(f"{text} in {path}") from None
        spec = msgspec.convert(data, MappingFile)
    except msgspec.ValidationError as exc:
        raise MappingFileError(f"{exc} in {path}" if " - at `" in str(exc) else f"{exc} - at `$` in {path}") from None
    if agency is not None and spec.agency != agency:
        raise _fail(path, f"Expected agency {agency!r}, got {spec.agency!r}", "$.agency")
    _validate(spec, path)
    return DeclarativeMapping(spec, path)
