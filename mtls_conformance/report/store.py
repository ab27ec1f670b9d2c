"""Reading and writing a run's report files: results/<run-id>/report.json, report.yaml, report.html."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from mtls_conformance.errors import InputError
from mtls_conformance.plan.model import Case
from mtls_conformance.report.document import build_report
from mtls_conformance.report.html import render_report_html
from mtls_conformance.report.model import API_VERSION, SCHEMA_VERSION, RunMeta
from mtls_conformance.report.schema import schema_problems
from mtls_conformance.verdict import CaseVerdict, Verdict

JSON_NAME, YAML_NAME, HTML_NAME = "report.json", "report.yaml", "report.html"
# libyaml when PyYAML has it: the pure-Python emitter takes minutes on a full-profile report.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def run_dir(results_dir: Path, run_id: str) -> Path:
    """``results_dir`` may be the results root or already the run's own folder (results/<run-id>)."""
    return results_dir if results_dir.name == run_id else results_dir / run_id


def write_report_files(directory: Path, doc: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    # Compact JSON: full-profile runs have tens of thousands of probes; report.yaml is the human-readable copy.
    (directory / JSON_NAME).write_text(json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8")
    (directory / YAML_NAME).write_text(yaml.dump(doc, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
    (directory / HTML_NAME).write_text(render_report_html(doc), encoding="utf-8")
    return directory / JSON_NAME


def write_run_report(results_dir: Path, meta: RunMeta, verdicts: Sequence[Verdict | CaseVerdict], skipped: Sequence[tuple[str, str]],
                     cases: Iterable[Case] = ()) -> Path:
    """Write report.json, report.yaml and report.html for one run; returns the path of report.json.

    ``cases`` (optional) gives each verdict its suite, features and matrix dimensions for the HTML filters.
    """
    doc = build_report(meta, verdicts, skipped, cases)
    problems = schema_problems(doc)
    if problems:  # a bug in this package, not user input: fail loudly rather than write a bad report
        raise ValueError("report does not match its schema: " + "; ".join(problems[:5]))
    return write_report_files(run_dir(Path(results_dir), meta.run_id), doc)


def resolve_report_path(path: str | Path) -> Path:
    """A report.json, or a run folder that holds one."""
    p = Path(path)
    return p / JSON_NAME if p.is_dir() else p


def load_report(path: str | Path) -> dict[str, Any]:
    """Load and validate a report.json (or .yaml). Raises InputError (one line) when it is missing or invalid."""
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
    major = str(doc.get("schemaVersion", "")).split(".")[0]
    if major != SCHEMA_VERSION.split(".")[0]:
        raise InputError(where, f"has schemaVersion {doc.get('schemaVersion')!r}; this tool reads {SCHEMA_VERSION.split('.')[0]}.x",
                         "use the mtls-conformance release that wrote the report, or re-run the suite")
    problems = schema_problems(doc)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(where, f"does not match the report schema: {problems[0]}{more}", "regenerate it with a conformance run")
    return doc
