"""A JSON Schema subset compiled to Python closures: the fast path of heartbeat validation.

jsonschema 4.10 (Debian 12) spends about half a millisecond on a 2 KB
heartbeat, most of it interpreting the schema again for every document. This
module turns the keywords the heartbeat schema uses into nested closures once,
so checking a valid document costs a few tens of microseconds. It only answers
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


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: _is_number(v) and (isinstance(v, int) or v.is_integer()),
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


def compile_schema(schema: dict[str, Any]) -> Check:
    """The whole schema as one predicate; raises Unsupported for keywords outside the subset."""
    defs = schema.get("$defs", {})
    cache: dict[str, Check] = {}

    def ref(target: str) -> Check:
        if not target.startswith("#/$defs/") or target[8:] not in defs:
            raise Unsupported(f"$ref {target!r}")
        name = target[8:]
        if name not in cache:
            cache[name] = lambda v: compiled[name](v)  # late binding allows recursion
            compiled[name] = build(defs[name])
        return cache[name]

    compiled: dict[str, Check] = {}

    def build(node: Any) -> Check:
        if node is True or node == {}:
            return lambda v: True
        if node is False:
            return lambda v: False
        if not isinstance(node, dict):
            raise Unsupported(f"schema node {node!r}")
        unknown = set(node) - _KEYWORDS
        if unknown:
            raise Unsupported(", ".join(sorted(unknown)))
        checks: list[Check] = []
        if "$ref" in node:
            checks.append(ref(node["$ref"]))
        if "type" in node:
            kinds = node["type"] if isinstance(node["type"], list) else [node["type"]]
            tests = [_TYPES[k] for k in kinds]
            checks.append(tests[0] if len(tests) == 1 else (lambda v, tests=tests: any(t(v) for t in tests)))
        if "const" in node:
            checks.append(lambda v, c=node["const"]: _same(v, c))
        if "enum" in node:
            checks.append(lambda v, options=node["enum"]: any(_same(v, o) for o in options))
        checks += _numeric(node) + _string(node) + _array(node, build) + _object(node, build)
        if len(checks) == 1:
            return checks[0]

        def every(v: Any) -> bool:
            for check in checks:
                if not check(v):
                    return False
            return True

        return every

    return build(schema)


def _numeric(node: dict[str, Any]) -> list[Check]:
    out: list[Check] = []
    if "minimum" in node:
        out.append(lambda v, m=node["minimum"]: not _is_number(v) or v >= m)
    if "maximum" in node:
        out.append(lambda v, m=node["maximum"]: not _is_number(v) or v <= m)
    return out


def _string(node: dict[str, Any]) -> list[Check]:
    out: list[Check] = []
    if "maxLength" in node:
        out.append(lambda v, n=node["maxLength"]: not isinstance(v, str) or len(v) <= n)
    if "minLength" in node:
        out.append(lambda v, n=node["minLength"]: not isinstance(v, str) or len(v) >= n)
    if "pattern" in node:
        search = re.compile(node["pattern"]).search
        out.append(lambda v: not isinstance(v, str) or search(v) is not None)
    return out


def _array(node: dict[str, Any], build: Callable[[Any], Check]) -> list[Check]:
    out: list[Check] = []
    if "maxItems" in node:
        out.append(lambda v, n=node["maxItems"]: not isinstance(v, list) or len(v) <= n)
    if "minItems" in node:
        out.append(lambda v, n=node["minItems"]: not isinstance(v, list) or len(v) >= n)
    if "items" in node:
        item = build(node["items"])
        def each(v: Any) -> bool:
            if isinstance(v, list):
                for x in v:
                    if not item(x):
                        return False
            return True

        out.append(each)
    return out


def _object(node: dict[str, Any], build: Callable[[Any], Check]) -> list[Check]:
    out: list[Check] = []
    if "required" in node:
        required = tuple(node["required"])
        out.append(lambda v: not isinstance(v, dict) or all(k in v for k in required))
    props = {k: build(s) for k, s in node.get("properties", {}).items()}
    extra = build(node["additionalProperties"]) if "additionalProperties" in node else None
    if props or extra is not None:
        def check_object(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, value in v.items():
                check = props.get(key, extra)
                if check is not None and not check(value):
                    return False
            return True
        out.append(check_object)
    return out
