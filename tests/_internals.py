"""A scan of samband's source and test modules for libraries' names starting with `_` (their internals).

Used by `tests/observability/test_shims.py` only, so apart from `_support`. What counts as ours: a
private name samband's own code defines, at a module's top level (and the module files themselves)
or as a class member (methods, class-body names, ``__slots__``, attributes set on ``self``/``cls``).
A private name read on anything else is a library's. Where a name is both ours and a library's
(``_root``, ``_lock``, ``_done`` ...), the receiver decides: ``self``/``cls``, a module of ours, or a
name annotated or constructed with a class of ours is ours; a library's module or class is theirs;
anything else cannot be told apart and is reported, with the library that defines the name. A
private attribute samband itself sets on a library's object (a marker) and no library defines is
samband's.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROOT", "Use", "library_internals", "scan_sources", "shim_reads"]

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "observability", "broker_config", "router", "adapters", "samband", "tests")
# documented public API in spite of the underscore
PUBLIC_UNDERSCORE = frozenset({"_exit", "_getframe", "_replace", "_asdict", "_fields", "_make", "_field_defaults"})
_ATTR_CALLS = frozenset({"getattr", "setattr", "hasattr", "delattr"})


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass(frozen=True)
class Use:
    path: str
    line: int
    name: str
    text: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text} - {self.why}"


def scan_sources() -> dict[str, str]:
    """Every module of the source packages and the tests, by path relative to the repository."""
    return dict(_sources())


@functools.cache
def _sources() -> tuple[tuple[str, str], ...]:
    return tuple(
        (str(p.relative_to(ROOT)), p.read_text())
        for pkg in PACKAGES
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if "__pycache__" not in p.parts
    )


@functools.cache
def _parse(path: str, text: str) -> ast.Module:
    return ast.parse(text, filename=path)


# ---- what a module defines ------------------------------------------------------------------
def _top_level(stmts: list[ast.stmt]):
    for node in stmts:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.name
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                yield from (n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__slots__" for t in node.targets):
                yield from (c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            yield from ((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.If | ast.Try | ast.With):
            handlers = [s for h in getattr(node, "handlers", []) for s in h.body]
            yield from _top_level(node.body + getattr(node, "orelse", []) + handlers + getattr(node, "finalbody", []))


def _defines(tree: ast.Module) -> tuple[set[str], set[str], set[str]]:
    """(module-level names, class members, class names) of one module, private or not."""
    module = set(_top_level(tree.body))
    members: set[str] = set()
    classes: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            classes.add(node.name)
            members |= set(_top_level(node.body))
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")
        ):
            members.add(node.attr)
    return module, members, classes


@dataclass
class _Ours:
    module: set[str]
    members: set[str]
    classes: set[str]
    markers: set[str]  # private attributes samband sets on objects that are not its own (a marker)

    @property
    def names(self) -> set[str]:
        return self.module | self.members


def _ours(trees: dict[str, ast.Module]) -> _Ours:
    ours = _Ours(set(), set(), set(), set())
    for path, tree in trees.items():
        module, members, classes = _defines(tree)
        ours.module |= module | {Path(path).stem}
        ours.members |= members
        ours.classes |= classes
        ours.markers |= {
            n.attr
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and _private(n.attr)
        }
    return ours


@functools.cache
def _library_names(top: str) -> dict[str, str]:
    """The private names library ``top`` (a top-level import) defines -> the library's name."""
    if top in sys.stdlib_module_names:
        spec = importlib.util.find_spec(top)
        label = f"the standard library's {top}"
        if spec is None:
            return {}
        if spec.submodule_search_locations:
            files = [f for loc in spec.submodule_search_locations for f in Path(loc).rglob("*.py")]
        else:
            files = [Path(spec.origin)] if spec.origin and spec.origin.endswith(".py") else []
    else:
        files = []
        for dist in importlib.metadata.packages_distributions().get(top, []):
            found = importlib.metadata.distribution(dist)
            files += [(Path(str(found.locate_file(f))), dist) for f in found.files or [] if f.suffix == ".py"]
        return _names_in(files)
    return _names_in([(f, label) for f in files])


# what a library defines, read with a pattern rather than parsed: a few MB of library code, and
# an over-approximation only makes the scan ask for an annotation more often
_DEFINED = re.compile(rb"(?:\bdef|\bclass|\bself\.|\bcls\.|^[ \t]*)(_[A-Za-z0-9]\w*)\s*(?:[(:=,]|$)", re.M)


def _names_in(files: list[tuple[Path, str]]) -> dict[str, str]:
    names: dict[str, str] = {}
    for f, label in files:
        try:
            data = f.read_bytes()
        except OSError:
            continue
        for n in set(_DEFINED.findall(data)):
            name = n.decode()
            if _private(name):
                names.setdefault(name, label)
    return names


# ---- who a receiver belongs to ----------------------------------------------------------------
def _constructor(func: ast.expr) -> bool:
    """A call that makes an instance of a class (by the naming convention: a capitalised name)."""
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name[:1].isupper()


class _Module:
    """The imports and the typed names of one module (flow-insensitive: enough to tell ours from theirs)."""

    def __init__(self, tree: ast.Module, ours: _Ours) -> None:
        self.imports: dict[str, str] = {}  # bound name -> module path ("." prefix: relative, ours)
        self.types: dict[str, list[ast.expr]] = {}
        self.ours = ours
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.imports[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                for a in node.names:
                    self.imports[a.asname or a.name] = f"{base}.{a.name}"
            elif isinstance(node, ast.arg) and node.annotation is not None:
                self.types.setdefault(node.arg, []).append(node.annotation)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                self.types.setdefault(node.target.id, []).append(node.annotation)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and _constructor(node.value.func):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        self.types.setdefault(t.id, []).append(node.value.func)

    @staticmethod
    def is_ours(module: str) -> bool:
        return module.startswith(".") or module.split(".")[0] == "samband"

    def _type_owner(self, expr: ast.expr) -> str | None:
        """'ours', a library's module path, or None (cannot tell) for an annotation or a constructor."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            try:
                expr = ast.parse(expr.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(expr, ast.BinOp):  # X | None
            owners = {self._type_owner(e) for e in (expr.left, expr.right)} - {"none"}
            return owners.pop() if len(owners) == 1 else None
        if isinstance(expr, ast.Constant) and expr.value is None:
            return "none"
        root = expr
        while isinstance(root, ast.Attribute):
            root = root.value
        if not isinstance(root, ast.Name):
            return None
        if root.id in self.imports:
            module = self.imports[root.id]
            return "ours" if self.is_ours(module) else module
        if isinstance(expr, ast.Name) and expr.id in self.ours.classes:
            return "ours"
        return None

    def owner(self, receiver: ast.expr) -> str | None:
        """'self', 'ours', a library's module path, or None (cannot tell)."""
        if isinstance(receiver, ast.Name):
            if receiver.id in ("self", "cls"):
                return "self"
            if receiver.id in self.imports:
                module = self.imports[receiver.id]
                return "ours" if self.is_ours(module) else module
            owners = {self._type_owner(t) for t in self.types.get(receiver.id, [])} - {None}
            return owners.pop() if len(owners) == 1 else None
        if isinstance(receiver, ast.Attribute):  # a module path (`samband.x.y`), else cannot tell
            root = receiver
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in self.imports:
                return self.owner(root)
        return None


# ---- the scan -----------------------------------------------------------------------------------
def _reads(tree: ast.Module):
    """(node, receiver or None, private name) for each attribute read or set by name, import and dotted path."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            yield node, node.value, node.attr
        elif isinstance(node, ast.Call) and len(node.args) >= 2:
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            first, second = node.args[0], node.args[1]
            if called not in _ATTR_CALLS:
                continue
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and "." in first.value:
                yield node, first, first.value  # monkeypatch.setattr("pkg.mod._name", value)
            elif isinstance(second, ast.Constant) and isinstance(second.value, str) and _private(second.value):
                yield node, first, second.value
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
            value = node.value
            if isinstance(key, str) and _private(key):
                if isinstance(value, ast.Attribute) and value.attr == "__dict__":
                    yield node, value.value, key
                elif isinstance(value, ast.Call) and getattr(value.func, "id", "") == "vars" and value.args:
                    yield node, value.args[0], key
        elif isinstance(node, ast.Import | ast.ImportFrom):
            yield node, None, ""


def _check_import(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    if isinstance(node, ast.ImportFrom) and node.level:
        return []
    out = []
    modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    for module in modules:
        if module.split(".")[0] == "samband":
            continue
        out += [(seg, f"an underscore module of {module}") for seg in module.split(".") if _private(seg)]
        if isinstance(node, ast.ImportFrom):
            out += [(a.name, f"a private name of {module}") for a in node.names if _private(a.name)]
    return out


def library_internals(sources: dict[str, str], *, exempt: set[str]) -> list[Use]:
    """Every use of a library's private name in ``sources`` (path -> text) outside the ``exempt`` paths."""
    trees = {path: _parse(path, text) for path, text in sources.items()}
    ours = _ours(trees)
    tops = {
        (a.name if isinstance(n, ast.Import) else n.module or "").split(".")[0]
        for tree in trees.values()
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom) and not getattr(n, "level", 0)
        for a in n.names
    } - {"samband", ""}
    theirs: dict[str, str] = {}
    for top in sorted(tops):
        for name, label in _library_names(top).items():
            theirs.setdefault(name, label)
    uses = []
    for path, tree in trees.items():
        if path in exempt:
            continue
        module = _Module(tree, ours)
        for node, receiver, name in _reads(tree):
            text = ast.unparse(node).splitlines()[0][:120]
            if isinstance(node, ast.Import | ast.ImportFrom):
                uses += [Use(path, node.lineno, n, text, why) for n, why in _check_import(node)]
                continue
            if isinstance(receiver, ast.Constant):  # a dotted path given as a string
                parts = name.split(".")
                if parts[0] != "samband":
                    uses += [
                        Use(path, node.lineno, p, text, f"an internal of {parts[0]}") for p in parts if _private(p)
                    ]
                continue
            why = _verdict(module.owner(receiver), name, ours, theirs) if name not in PUBLIC_UNDERSCORE else None
            if why:
                uses.append(Use(path, node.lineno, name, text, why))
    return sorted(uses, key=lambda u: (u.path, u.line, u.name))


def _verdict(owner: str | None, name: str, ours: _Ours, theirs: dict[str, str]) -> str | None:
    """Why reading ``name`` on a receiver of ``owner`` is a library's internal, or None (it is ours)."""
    if owner == "self":
        return None if name in ours.members else f"no class of samband defines `{name}`: a library base class's"
    if owner == "ours":
        return None if name in ours.names else f"samband defines no `{name}`"
    if name in ours.markers and name not in theirs:
        return None  # samband's own marker, set on a library's object (no library defines the name)
    if owner is not None:
        return f"an internal of {owner}"
    if name not in ours.names:
        return f"an internal of {theirs.get(name, 'a library')}: samband defines no `{name}`"
    if name in theirs:
        return (
            f"both samband and {theirs[name]} define `{name}` and the receiver's type is not known: "
            "annotate it with our class, or go through the shim"
        )
    return None


def shim_reads(path: Path) -> set[str]:
    """The names a shim module reads of library objects: attributes on receivers other than ``self``
    and the modules it imports, and names given to getattr as strings."""
    tree = ast.parse(path.read_text())
    module = _Module(tree, _Ours(set(), set(), set(), set()))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and (root.id in ("self", "cls") or root.id in module.imports):
                continue
            names.add(node.attr)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", "") in _ATTR_CALLS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            names.add(node.args[1].value)
    return names
