"""Reading and writing a run's report files: results/<run-id>/report.json, report.yaml, report.html and data/.

report.json is the compact schema 2.x document (report/compact.py); report.yaml is its readable digest (identity,
result, summary, every failed or unobserved probe in full, checks, skips); report.html with data/ is the page.
In memory a report is always the expanded document (a ``results`` list, as in schema 1.x).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mtls_conformance.errors import InputError
from mtls_conformance.plan.model import Case
from mtls_conformance.report.compact import case_table, encode, expand
from mtls_conformance.report.document import build_report, dimensions_from_id
from mtls_conformance.report.html import DATA_DIR, render_report_site
from mtls_conformance.report.model import API_VERSION, SCHEMA_FILES, SCHEMA_VERSION, RunMeta
from mtls_conformance.report.schema import schema_major, schema_problems
from mtls_conformance.verdict import CaseVerdict, Status, Verdict

JSON_NAME, YAML_NAME, HTML_NAME = "report.json", "report.yaml", "report.html"
# libyaml when PyYAML has it: the pure-Python emitter takes minutes on a full-profile report.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def run_dir(results_dir: Path, run_id: str) -> Path:
    """``results_dir`` may be the results root or already the run's own folder (results/<run-id>)."""
    return results_dir if results_dir.name == run_id else results_dir / run_id


_COMPACT_KEYS = ("cases", "expected_keys", "pool")


def compact_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The expanded document -> what report.json stores (schema 2.x)."""
    results = doc["results"]
    cases, dims, case_of = case_table(results, dimensions_from_id)
    packed = encode(results, case_of)
    packed["pool"]["dimensions"] = dims
    out = {k: v for k, v in doc.items() if k != "results"}
    out.update(schemaVersion=SCHEMA_VERSION, cases=cases, expected_keys=packed["expected_keys"], pool=packed["pool"], results=packed["results"])
    return out


def expand_doc(stored: Mapping[str, Any]) -> dict[str, Any]:
    """What report.json stores -> the expanded document (1.x documents are already expanded)."""
    if (schema_major(stored) or 0) < 2:
        return dict(stored)
    out = {k: v for k, v in stored.items() if k not in _COMPACT_KEYS}
    out["results"] = expand(stored["cases"], stored["pool"], stored["results"], stored["expected_keys"], dimensions_from_id)
    return out


def digest(doc: Mapping[str, Any]) -> dict[str, Any]:
    """report.yaml: what a person reads in a terminal or a review; every probe is in report.json."""
    attention = [r for r in doc["results"] if r["status"] != Status.PASS]
    keep = ("apiVersion", "kind", "schemaVersion", "run", "mesh", "result", "summary", "failed_cases")
    return {**{k: doc[k] for k in keep},
            "note": "The readable digest of report.json: every failed or unobserved probe in full, whole-case checks and skips. "
                    "All probes are in report.json (read it with mtls-conformance report / diff) and on report.html.",
            "failed_or_unobserved": attention, "checks": doc.get("checks", []), "skipped": doc["skipped"],
            "version_facts": doc["version_facts"],
            "rules": {k: v for k, v in doc["rules"].items() if any(k in r["expected"]["rules"] for r in attention)}}


def write_report_files(directory: Path, doc: dict[str, Any], stored: Mapping[str, Any] | None = None) -> Path:
    """Write report.json (compact), report.yaml (digest), report.html and its data/ folder for the expanded ``doc``."""
    directory.mkdir(parents=True, exist_ok=True)
    stored = compact_doc(doc) if stored is None else stored
    (directory / JSON_NAME).write_text(json.dumps(stored, separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8")
    (directory / YAML_NAME).write_text(yaml.dump(digest(doc), Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=120),
                                       encoding="utf-8")
    write_html(directory / HTML_NAME, doc, stored)
    return directory / JSON_NAME


def write_html(page: Path, doc: Mapping[str, Any], stored: Mapping[str, Any] | None = None) -> None:
    """The page at ``page`` and its data/ folder beside it; parts a previous rendering left behind are removed.
    ``stored`` is the report's compact form (report.json), computed from ``doc`` when not given."""
    text, parts = render_report_site(doc, compact_doc(doc) if stored is None else stored)
    data = page.parent / DATA_DIR
    data.mkdir(parents=True, exist_ok=True)
    for old in data.glob("part-*.js"):
        if old.name not in parts:
            old.unlink()
    for name, part in parts.items():
        (data / name).write_text(part, encoding="utf-8")
    page.write_text(text, encoding="utf-8")


def write_run_report(results_dir: Path, meta: RunMeta, verdicts: Sequence[Verdict | CaseVerdict], skipped: Sequence[tuple[str, str]],
                     cases: Iterable[Case] = ()) -> Path:
    """Write report.json, report.yaml and report.html for one run; returns the path of report.json.

    ``cases`` (optional) gives each verdict its suite, features and matrix dimensions for the HTML filters.
    """
    doc = build_report(meta, verdicts, skipped, cases)
    stored = compact_doc(doc)
    problems = schema_problems(stored)
    if problems:  # a bug in this package, not user input: fail loudly rather than write a bad report
        raise ValueError("report does not match its schema: " + "; ".join(problems[:5]))
    return write_report_files(run_dir(Path(results_dir), meta.run_id), doc, stored)


def resolve_report_path(path: str | Path) -> Path:
    """A report.json, or a run folder that holds one."""
    p = Path(path)
    return p / JSON_NAME if p.is_dir() else p


def load_report(path: str | Path) -> dict[str, Any]:
    """Load and validate a report.json (schema 2.x or 1.x; a 1.x report.yaml too) and return the expanded document.
    Raises InputError (one line) when it is missing or invalid."""
    return load_report_forms(path)[0]


def load_report_forms(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`load_report`, plus the report's compact (schema 2.x) form: as stored, or made from a 1.x report."""
    p = resolve_report_path(path)
    where = str(p)
    fix_path = "pass results/<run-id>/report.json written by a conformance run"
    if not p.is_file():
        raise InputError(where, "file not found", fix_path)
    try:
        text = p.read_text(encoding="utf-8")
        doc = yaml.load(text, Loader=_LOADER) if p.suffix in (".yaml", ".yml") else json.loads(text)  # noqa: S506 (a safe loader)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(where, f"cannot be read ({exc.__class__.__name__})", "check the file's permissions and encoding (UTF-8)") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InputError(where, f"is not valid {'YAML' if p.suffix in ('.yaml', '.yml') else 'JSON'} ({str(exc).splitlines()[0]})",
                         fix_path) from None
    if not isinstance(doc, dict) or doc.get("apiVersion") != API_VERSION:
        found = doc.get("apiVersion") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(where, f"is not an mtls-conformance report (apiVersion {found!r}, expected {API_VERSION!r})", fix_path)
    major = schema_major(doc)
    if major is None:
        known = " and ".join(f"{m}.x" for m in sorted(SCHEMA_FILES))
        raise InputError(where, f"has schemaVersion {doc.get('schemaVersion')!r}; this tool reads {known}",
                         "use the mtls-conformance release that wrote the report, or re-run the suite")
    if major >= 2 and "failed_or_unobserved" in doc:
        raise InputError(where, "is the readable digest of a report, not the report", f"pass the {JSON_NAME} beside it")
    problems = schema_problems(doc)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(where, f"does not match the report schema: {problems[0]}{more}", "regenerate it with a conformance run")
    expanded = expand_doc(doc)
    return expanded, doc if major >= 2 else compact_doc(expanded)
