"""report.html: one self-contained page (inline CSS and JS, no network) with the whole matrix at a glance.

The server side writes only escaped text; the data travels as JSON inside a script element with '<', '>'
and '&' escaped, and the page's script inserts every string with textContent.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from mtls_conformance.outcomes import vocabulary


def _asset(name: str) -> str:
    return resources.files("mtls_conformance.report").joinpath(name).read_text(encoding="utf-8")


def embed_json(data: Any) -> str:
    """JSON safe inside <script>: no '</script>', no '<!--', no entity surprises."""
    return json.dumps(data, ensure_ascii=False).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def fill(template: str, values: Mapping[str, str]) -> str:
    """Substitute @@KEY@@ markers in one pass, so inserted text is never re-scanned for markers."""
    parts = template.split("@@")
    return "".join(values[p] if i % 2 else p for i, p in enumerate(parts))


def page(title: str, header: str, summary: str, data: Any, script: str) -> str:
    return fill(_asset("matrix.html"), {
        "TITLE": html.escape(title), "CSS": _asset("matrix.css"), "HEADER": header, "SUMMARY": summary,
        "DATA": embed_json(data), "VOCABULARY": embed_json(vocabulary()), "JS": script,
    })


def _e(value: Any) -> str:
    return html.escape(str(value))


def _header(doc: Mapping[str, Any]) -> str:
    mesh, run = doc["mesh"], doc["run"]
    meta = [
        ("run", run["id"]), ("profile", mesh["profile"]), ("data plane", mesh["data_plane_mode"]),
        ("Kubernetes", mesh["kubernetes_version"]), ("started", run["started"]), ("finished", run["finished"]),
        ("suite", run["suite_version"]),
    ]
    parts = [
        f"<h1>mTLS conformance · Istio {_e(mesh['istio_version'])}</h1>",
        f'<span class="result result-{_e(doc["result"])}">{_e(doc["result"])}</span>',
        '<div class="meta">' + "".join(f"<span>{_e(k)} <b>{_e(v)}</b></span>" for k, v in meta) + "</div>",
    ]
    if run["synthetic"]:
        parts.append('<div class="synthetic">Synthetic run: these observations were made up for a self-test or a '
                     "documentation sample; no cluster was involved.</div>")
    return "".join(parts)


def _summary(doc: Mapping[str, Any]) -> str:
    s = doc["summary"]
    stats = [
        ("", s["cases"]["total"], "cases"), ("", s["probes"]["total"], "probes"),
        ("pass", s["probes"]["passed"], "probes passed"), ("fail", s["probes"]["failed"], "probes failed"),
        ("error", s["probes"]["errors"], "not observed"), ("", s["cases"]["skipped"], "cases skipped"),
        ("", s["observed"].get("mtls", 0), "observed mTLS"), ("", s["observed"].get("plaintext", 0), "observed plaintext"),
        ("", s["observed"].get("refused", 0), "observed refused"),
    ]
    text = "".join(f'<div class="stat {cls}"><span class="n">{_e(n)}</span><span class="l">{_e(label)}</span></div>'
                   for cls, n, label in stats)
    return text + _checks(doc)


def _checks(doc: Mapping[str, Any]) -> str:
    """Whole-case checks (certificate rotation), with their facts and problems: they have no cell in the probe grid."""
    checks = doc.get("checks") or []
    if not checks:
        return ""
    rows = []
    for c in checks:
        facts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.get("facts", {}).items())
        problems = "".join(f"<li>{_e(p)}</li>" for p in c.get("problems", []))
        rows.append(f'<tr class="{_e(c["status"])}"><td>{_e(c["case"])}</td><td>{_e(c["kind"])}</td>'
                    f'<td><b>{_e(c["status"])}</b></td><td>{_e(facts)}</td><td><ul>{problems}</ul></td></tr>')
    return ('<table class="checks"><caption>checks judged as a whole</caption><tr><th>case</th><th>kind</th>'
            "<th>status</th><th>facts</th><th>problems</th></tr>" + "".join(rows) + "</table>")


def render_report_html(doc: Mapping[str, Any]) -> str:
    mesh = doc["mesh"]
    title = f"mTLS conformance: Istio {mesh['istio_version']} ({mesh['data_plane_mode']}, {mesh['profile']}) run {doc['run']['id']}"
    return page(title, _header(doc), _summary(doc), doc, _asset("matrix.js"))


_PLAIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>@@TITLE@@</title><style>@@CSS@@</style></head>
<body><header>@@HEADER@@</header><section id="summary">@@SUMMARY@@</section>@@BODY@@
<script type="application/json" id="report-data">@@DATA@@</script></body></html>
"""


def plain_page(title: str, header: str, summary: str, body: str, data: Any) -> str:
    """A static page (no script) in the report's style: used for diffs and predictions."""
    return fill(_PLAIN_PAGE, {
        "TITLE": html.escape(title), "CSS": _asset("matrix.css"), "HEADER": header, "SUMMARY": summary, "BODY": body,
        "DATA": embed_json(data),
    })
