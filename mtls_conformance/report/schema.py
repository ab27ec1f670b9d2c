"""The report's JSON Schemas (shipped in the package, one file per schema major) and validation against them."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any, cast

import jsonschema

from mtls_conformance.report.compact import compact_problems
from mtls_conformance.report.model import SCHEMA_FILES, SCHEMA_VERSION

CURRENT_MAJOR = int(SCHEMA_VERSION.split(".")[0])


@functools.cache
def report_schema(major: int = CURRENT_MAJOR) -> dict[str, Any]:
    text = resources.files("mtls_conformance.report").joinpath(SCHEMA_FILES[major]).read_text(encoding="utf-8")
    return cast(dict[str, Any], json.loads(text))


@functools.cache
def _validator(major: int) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(report_schema(major), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def schema_major(doc: Any) -> int | None:
    """The schema major a document claims (None when it claims none this package knows)."""
    major = str(doc.get("schemaVersion", "") if isinstance(doc, Mapping) else "").split(".")[0]
    return int(major) if major.isdigit() and int(major) in SCHEMA_FILES else None


def schema_problems(doc: Any) -> list[str]:
    """Every way a stored ``doc`` (as in report.json) breaks its schema, as 'path: message' lines (empty when valid).

    A 2.x document is checked against report.schema.json and then row by row (every index in range);
    a 1.x document against report-1.schema.json.
    """
    major = schema_major(doc) or CURRENT_MAJOR
    problems = []
    for err in sorted(_validator(major).iter_errors(doc), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        message = err.message if len(err.message) <= 300 else err.message[:300] + "…"  # messages quote the instance
        problems.append(f"{where}: {message}")
    if not problems and major >= 2:
        problems = compact_problems(doc["cases"], doc["pool"], doc["results"], doc["expected_keys"])
    return problems


def is_report(doc: Any) -> bool:
    return isinstance(doc, Mapping) and not schema_problems(doc)
