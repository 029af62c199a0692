"""A JSON Schema subset compiled to Python source: the fast path of heartbeat validation.

jsonschema 4.10 (Debian 12) spends about half a millisecond on a 2 KB
heartbeat, most of it interpreting the schema again for every document. This
module turns the keywords the heartbeat schema uses into one generated Python
function per schema (and per ``$defs`` entry) once, so checking a valid
document costs a few tens of microseconds. It only answers
valid or not: when it says "not valid", jsonschema runs to find the error and
its path, so jsonschema stays the reference and error messages are its own.

Semantics follow draft 2020-12 as jsonschema implements them: booleans are not
numbers, 1.0 is an integer, ``const``/``enum`` do not equate true with 1,
``pattern`` is an unanchored search, ``format`` is an annotation. A schema
using any keyword not listed in ``_KEYWORDS`` raises ``Unsupported`` and the
caller uses jsonschema alone.
"""

from __future__ import annotations

import re
from typing import Any, Callable

Check = Callable[[Any], bool]

_ANNOTATIONS = {"$schema", "$id", "title", "description", "$defs", "format", "$comment", "examples", "default"}
_KEYWORDS = _ANNOTATIONS | {
    "$ref", "type", "const", "enum", "properties", "required", "additionalProperties", "items",
    "maxItems", "minItems", "minimum", "maximum", "maxLength", "minLength", "pattern",
}


class Unsupported(ValueError):
    """The schema uses a keyword this compiler does not implement."""


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# Type tests as expressions over the variable {v}.
_TYPES = {
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "string": "isinstance({v}, str)",
    "boolean": "isinstance({v}, bool)",
    "null": "{v} is None",
    "number": "(isinstance({v}, (int, float)) and not isinstance({v}, bool))",
    "integer": "((isinstance({v}, int) and not isinstance({v}, bool)) or (isinstance({v}, float) and {v}.is_integer()))",
}


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1.0 is 1, containers compared deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b


# keyword, the type it applies to, what is compared, the comparison that makes it invalid
_BOUNDS = (
    ("minimum", _TYPES["number"], "{v}", "<"),
    ("maximum", _TYPES["number"], "{v}", ">"),
    ("minLength", _TYPES["string"], "len({v})", "<"),
    ("maxLength", _TYPES["string"], "len({v})", ">"),
    ("minItems", _TYPES["array"], "len({v})", "<"),
    ("maxItems", _TYPES["array"], "len({v})", ">"),
)


class _Compiler:
    """Emits ``if <invalid>: return False`` lines; constants go to a namespace by name."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.namespace: dict[str, Any] = {"_same": _same, "_is_number": _is_number}
        self.functions: dict[str, list[str]] = {}
        self._counter = 0

    def name(self, prefix: str, value: Any = None) -> str:
        self._counter += 1
        name = f"{prefix}{self._counter}"
        if value is not None:
            self.namespace[name] = value
        return name

    def function(self, key: str, node: Any) -> str:
        """The name of a generated function checking ``node`` (one per $defs entry)."""
        fname = f"_check_{re.sub(r'[^a-zA-Z0-9_]', '_', key)}"
        if fname not in self.functions:
            self.functions[fname] = []  # registered first: recursion refers to it by name
            lines = self.node(node, "v0", 1)
            self.functions[fname] = [f"def {fname}(v0):", *lines, "    return True"]
        return fname

    def node(self, node: Any, v: str, depth: int) -> list[str]:
        pad = "    " * depth
        if node is True or node == {}:
            return []
        if node is False:
            return [f"{pad}return False"]
        if not isinstance(node, dict):
            raise Unsupported(f"schema node {node!r}")
        unknown = set(node) - _KEYWORDS
        if unknown:
            raise Unsupported(", ".join(sorted(unknown)))
        out: list[str] = []
        if "$ref" in node:
            target = node["$ref"]
            if not target.startswith("#/$defs/") or target[8:] not in self.defs:
                raise Unsupported(f"$ref {target!r}")
            out.append(f"{pad}if not {self.function(target[8:], self.defs[target[8:]])}({v}): return False")
        if "type" in node:
            kinds = node["type"] if isinstance(node["type"], list) else [node["type"]]
            test = " or ".join(_TYPES[k].format(v=v) for k in kinds)
            out.append(f"{pad}if not ({test}): return False")
        if "const" in node:
            out.append(f"{pad}if not _same({v}, {self.name('C', [node['const']])}[0]): return False")
        if "enum" in node:
            options = node["enum"]
            if all(isinstance(o, str) for o in options):
                out.append(f"{pad}if not (isinstance({v}, str) and {v} in {self.name('E', frozenset(options))}): return False")
            else:
                out.append(f"{pad}if not any(_same({v}, o) for o in {self.name('E', list(options))}): return False")
        for keyword, applies, measure, bad in _BOUNDS:
            if keyword in node:
                limit = node[keyword] if measure == "{v}" else int(node[keyword])
                out.append(f"{pad}if {applies.format(v=v)} and {measure.format(v=v)} {bad} {limit!r}: return False")
        if "pattern" in node:
            search = self.name("P", re.compile(node["pattern"]).search)
            out.append(f"{pad}if isinstance({v}, str) and {search}({v}) is None: return False")
        if "items" in node:
            item = self.name("v")
            inner = self.node(node["items"], item, depth + 2)
            if inner:
                out += [f"{pad}if isinstance({v}, list):", f"{pad}    for {item} in {v}:", *inner]
        out += self.object(node, v, depth)
        return out

    def object(self, node: dict[str, Any], v: str, depth: int) -> list[str]:
        pad = "    " * depth
        lines: list[str] = []
        if "required" in node:
            lines.append(f"{pad}    if not {v}.keys() >= {self.name('R', frozenset(node['required']))}: return False")
        props = node.get("properties", {})
        for key, sub in props.items():
            value = self.name("v")
            inner = self.node(sub, value, depth + 2)
            if inner:
                lines += [f"{pad}    {value} = {v}.get({key!r}, _MISSING)", f"{pad}    if {value} is not _MISSING:", *inner]
        extra = node.get("additionalProperties", True)
        if extra is False:
            lines.append(f"{pad}    if not {self.name('K', frozenset(props))}.issuperset({v}): return False")
        elif extra is not True and extra != {}:
            key, value = self.name("k"), self.name("v")
            inner = self.node(extra, value, depth + 3)
            allowed = self.name("K", frozenset(props))
            lines += [f"{pad}    for {key}, {value} in {v}.items():", f"{pad}        if {key} not in {allowed}:", *inner]
        return [f"{pad}if isinstance({v}, dict):", *lines] if lines else []


_MISSING = object()


def compile_schema(schema: dict[str, Any]) -> Check:
    """The whole schema as one predicate; raises Unsupported for keywords outside the subset."""
    compiler = _Compiler(schema.get("$defs", {}))
    main = compiler.function("$root", schema)
    source = "\n\n".join("\n".join(lines) for lines in compiler.functions.values())
    namespace = {**compiler.namespace, "_MISSING": _MISSING}
    exec(compile(source, "<heartbeat schema>", "exec"), namespace)  # noqa: S102 (our own generated code)
    check: Check = namespace[main]
    check.source = source  # type: ignore[attr-defined]  # for reading and debugging
    return check
