"""The report's JSON Schema (shipped in the package) and validation against it."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any, cast

import jsonschema

from mtls_conformance.report.model import SCHEMA_FILE


@functools.cache
def report_schema() -> dict[str, Any]:
    text = resources.files("mtls_conformance.report").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return cast(dict[str, Any], json.loads(text))


def schema_problems(doc: Any) -> list[str]:
    """Every way ``doc`` breaks the schema, as 'path: message' lines (empty when valid)."""
    validator = jsonschema.Draft202012Validator(report_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    problems = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        problems.append(f"{where}: {err.message}")
    return problems


def is_report(doc: Any) -> bool:
    return isinstance(doc, Mapping) and not schema_problems(doc)
