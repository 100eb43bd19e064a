"""Compare two JSON Schemas of one type and say which changes break its readers.

The rule (docs/schemas.md, "Versioning"): within a major version every reader decodes
every writer. So a change is *additive* only when it adds an optional field (or, in a
tagged union, a new tag); anything else a reader could trip over is *breaking*: a field
removed, retyped, made required or optional, a default changed, an allowed value added or
removed. `check_evolution` turns the changes into verdicts against the versions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Change", "check_evolution", "compare_schemas", "parse_version"]

# Words for people, not for machines: they never change what a reader accepts.
_DOC_KEYS = frozenset({"title", "description", "examples", "$comment", "$schema", "$id"})


@dataclass(frozen=True)
class Change:
    kind: Literal["breaking", "additive"]
    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.what} - at `{self.path}`"


def parse_version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


class _Walker:
    def __init__(self, old: dict, new: dict, shallow: frozenset[str]) -> None:
        self.old_defs = old.get("$defs", {})
        self.new_defs = new.get("$defs", {})
        self.shallow = shallow
        self.changes: list[Change] = []
        self._seen: set[tuple[str, str, str]] = set()

    def _resolve(self, schema: dict, defs: dict) -> tuple[dict, str | None]:
        ref = schema.get("$ref")
        if ref is None:
            return schema, None
        name = ref.rsplit("/", 1)[-1]
        return defs[name], name

    def _describe(self, s: dict, defs: dict) -> str:
        s, name = self._resolve(s, defs)
        if name:
            return name
        if "anyOf" in s:
            return " | ".join(self._describe(v, defs) for v in s["anyOf"])
        if "enum" in s:
            return "one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in s["enum"])
        kind = s.get("type", "any")
        if kind == "array":
            return f"array of {self._describe(s.get('items', {}), defs)}"
        if kind == "object" and isinstance(s.get("additionalProperties"), dict):
            return f"object of {self._describe(s['additionalProperties'], defs)}"
        extra = [f"{k}={s[k]}" for k in ("format", "pattern", "minimum", "maximum", "minLength", "maxLength") if k in s]
        return f"{kind} ({', '.join(extra)})" if extra else str(kind)

    def add(self, kind: str, path: str, what: str) -> None:
        self.changes.append(Change(kind, path, what))  # type: ignore[arg-type]

    def diff(self, o: dict, n: dict, path: str) -> None:
        o2, oname = self._resolve(o, self.old_defs)
        n2, nname = self._resolve(n, self.new_defs)
        key = (oname or "", nname or "", path)
        if oname and nname:
            if key in self._seen:  # a recursive type: compared once per place
                return
            self._seen.add(key)
        if ("default" in o2 or "default" in n2) and o2.get("default", ...) != n2.get("default", ...):
            self.add(
                "breaking",
                path,
                f"changed default: was {json.dumps(o2.get('default'))}, now {json.dumps(n2.get('default'))}",
            )
        if o2.get("type") == "object" and n2.get("type") == "object" and ("properties" in o2 or "properties" in n2):
            self._object(o2, n2, path)
        elif "anyOf" in o2 or "anyOf" in n2:  # one side may be a union of one
            self._union(o2 if "anyOf" in o2 else {"anyOf": [o]}, n2 if "anyOf" in n2 else {"anyOf": [n]}, path)
        elif "enum" in o2 and "enum" in n2:
            self._enum(o2, n2, path)
        else:
            self._plain(o2, n2, path)

    def _object(self, o: dict, n: dict, path: str) -> None:
        op, np_ = o.get("properties", {}), n.get("properties", {})
        oreq, nreq = set(o.get("required", ())), set(n.get("required", ()))
        for name, schema in op.items():
            where = f"{path}.{name}"
            if name not in np_:
                self.add("breaking", path, f"removed field `{name}`")
                continue
            if name in oreq and name not in nreq:
                self.add("breaking", path, f"field `{name}` is no longer required")
            elif name in nreq and name not in oreq:
                self.add("breaking", path, f"field `{name}` is now required")
            self.diff(schema, np_[name], where)
        for name in np_.keys() - op.keys():
            if name in nreq:
                self.add("breaking", path, f"new required field `{name}`")
            else:
                self.add("additive", path, f"new optional field `{name}`")
        if o.get("additionalProperties", True) != n.get("additionalProperties", True):
            oa, na = o.get("additionalProperties", True), n.get("additionalProperties", True)
            if isinstance(oa, dict) and isinstance(na, dict):
                self.diff(oa, na, f"{path}.*")
            else:
                self.add("breaking", path, f"changed additionalProperties: was {json.dumps(oa)}, now {json.dumps(na)}")

    def _variant_key(self, s: dict, defs: dict) -> str:
        r, name = self._resolve(s, defs)
        tag = r.get("properties", {}).get("type", {}).get("enum") if r.get("type") == "object" else None
        if tag and len(tag) == 1:
            return f"tag {tag[0]}"
        if name:
            return f"object {name}"
        return json.dumps(_strip(r), sort_keys=True)

    def _union(self, o: dict, n: dict, path: str) -> None:
        ov = {self._variant_key(v, self.old_defs): v for v in o["anyOf"]}
        nv = {self._variant_key(v, self.new_defs): v for v in n["anyOf"]}
        tagged = all(k.startswith("tag ") for k in (*ov, *nv))
        for k in ov.keys() - nv.keys():
            what = (
                f"removed record type `{k[4:]}`"
                if tagged
                else f"no longer accepts {self._describe(ov[k], self.old_defs)}"
            )
            self.add("breaking", path, what)
        for k in nv.keys() - ov.keys():
            if tagged:  # a reader meeting an unknown tag refuses it by name; policy routes a new type only once named
                self.add("additive", path, f"new record type `{k[4:]}`")
            else:
                self.add("breaking", path, f"now also accepts {self._describe(nv[k], self.new_defs)}")
        if tagged and path in self.shallow:
            return
        for k in ov.keys() & nv.keys():
            self.diff(ov[k], nv[k], f"{path}<{k[4:]}>" if tagged else path)

    def _enum(self, o: dict, n: dict, path: str) -> None:
        old, new = o["enum"], n["enum"]
        for v in old:
            if v not in new:
                self.add("breaking", path, f"removed value {json.dumps(v, ensure_ascii=False)}")
        for v in new:
            if v not in old:
                self.add("breaking", path, f"new value {json.dumps(v, ensure_ascii=False)} (older readers refuse it)")

    def _plain(self, o: dict, n: dict, path: str) -> None:
        if o.get("type") == n.get("type") == "array" and "items" in o and "items" in n:
            self.diff(o["items"], n["items"], f"{path}[]")
            o, n = {k: v for k, v in o.items() if k != "items"}, {k: v for k, v in n.items() if k != "items"}
        if _strip(o) != _strip(n):
            self.add(
                "breaking",
                path,
                f"retyped: was {self._describe(o, self.old_defs)}, now {self._describe(n, self.new_defs)}",
            )


def _strip(s: Any) -> Any:
    if isinstance(s, dict):
        return {k: _strip(v) for k, v in s.items() if k not in _DOC_KEYS and k != "default"}
    if isinstance(s, list):
        return [_strip(v) for v in s]
    return s


def compare_schemas(old: dict, new: dict, *, shallow: frozenset[str] | set[str] = frozenset()) -> list[Change]:
    """Every change a reader of ``old`` could notice in ``new`` (two documents from `json_schema`).

    ``shallow``: paths of tagged unions compared by their tags only (the envelope's
    ``$.record``: each record type is compared, and versioned, in its own document).
    """
    walker = _Walker(old, new, frozenset(shallow))
    walker.diff(_root(old), _root(new), "$")
    return walker.changes


def _root(doc: dict) -> dict:
    return {"$ref": doc["$ref"]} if "$ref" in doc else doc


def check_evolution(
    name: str,
    old: dict,
    old_version: tuple[int, int],
    new: dict,
    new_version: tuple[int, int],
    *,
    shallow: frozenset[str] | set[str] = frozenset(),
) -> list[str]:
    """What is wrong with going from ``old`` at ``old_version`` to ``new`` at ``new_version`` (empty: nothing)."""
    ov, nv = ".".join(map(str, old_version)), ".".join(map(str, new_version))
    if new_version < old_version:
        return [f"{name}: version went back from {ov} to {nv}"]
    if new_version[0] > old_version[0]:
        return []  # a new major may change anything; it is a new contract
    changes = compare_schemas(old, new, shallow=shallow)
    problems = [
        f"{name} {ov} -> {nv}: breaking change without a major version bump: {c}"
        for c in changes
        if c.kind == "breaking"
    ]
    if new_version[1] <= old_version[1]:
        problems += [
            f"{name} {ov} -> {nv}: additive change without a minor version bump: {c}"
            for c in changes
            if c.kind == "additive"
        ]
    return problems
