"""CEL ``x-kubernetes-validations`` rules of a CRD schema, evaluated with cel-python against one object."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import celpy
from celpy.adapter import json_to_cel


@functools.cache
def _program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _describe_eval_error(exc: Exception) -> str:
    text = str(exc)
    if "invalid literal for int()" in text:
        return "type conversion error from 'string' to 'int'"  # the wording of CEL's runtime (cel-go) for int("x")
    return f"evaluation error: {text}"


def _check(rule: Mapping[str, Any], value: Any) -> str | None:
    """None when the rule holds, else the message the API server would print."""
    text = str(rule["rule"])
    try:
        result = _program(text).evaluate({"self": json_to_cel(value)})
    except Exception as exc:  # celpy raises plain Exceptions for compile and evaluation errors
        return _describe_eval_error(exc)
    if isinstance(result, Exception):
        return _describe_eval_error(result)
    if bool(result):
        return None
    return str(rule.get("message") or f"failed rule: {text}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def rule_violations(schema: Mapping[str, Any], value: Any, path: str = "") -> Iterator[str]:
    """Walk schema and value together; yield one error per violated rule, in the API server's format."""
    for rule in schema.get("x-kubernetes-validations") or []:
        if "oldSelf" in str(rule.get("rule", "")):
            continue  # transition rules only apply to updates; rendered objects are created
        problem = _check(rule, value)
        if problem is not None:
            yield f'{path or "<root>"}: Invalid value: "{_kind(value)}": {problem}'
    if isinstance(value, Mapping):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            sub = props.get(key) if key in props else (extra if isinstance(extra, Mapping) else None)
            if sub is not None:
                yield from rule_violations(sub, child, _join(path, str(key)))
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            yield from rule_violations(schema["items"], item, f"{path}[{i}]")


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else type(value).__name__
