"""report.html and its data/ folder: a page that opens at any report size, from file:// or a web server.

The page itself carries only what the first screen needs: the verdict, the counts, the failed and unobserved probes
(and failed checks) with a one-line why and the rule, written server-side as escaped HTML; plus a compact,
gzip-compressed summary of every probe (case, probe, verdict, outcomes) for the grid and the filters. The details of
each probe (expectation, evidence, explanation, probe output) stay in data/part-NNN.js files beside the page, one per
run of consecutive cases, each loaded by a script element only when a probe of it is opened: fetch() is refused on
file:// pages, a script element is not. Each part calls ``mtlsReportPart(n, "<base64 gzip>")``; a part is report.json's
compact form cut to its probes, with only the pool entries they use (keyed by their index in report.json's pools).

Every string reaches the page as escaped text or through textContent, never as markup.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from itertools import pairwise
from typing import Any

from mtls_conformance.outcomes import Status, describe, vocabulary
from mtls_conformance.report.compact import INDEX_COLUMNS, LIST_OF, VALUE_COLUMNS, undelta
from mtls_conformance.report.document import dimensions_from_id

DATA_DIR = "data"
PART_PROBES = 1000  # probes per data part (a part never splits a case)
ATTENTION_ROWS = 200  # failed or unobserved probes listed on the first screen; the filters reach the rest


def _asset(name: str) -> str:
    return resources.files("mtls_conformance.report").joinpath(name).read_text(encoding="utf-8")


def embed_json(data: Any) -> str:
    """JSON safe inside <script>: no '</script>', no '<!--', no entity surprises."""
    return json.dumps(data, ensure_ascii=False).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def fill(template: str, values: Mapping[str, str]) -> str:
    """Substitute @@KEY@@ markers in one pass, so inserted text is never re-scanned for markers."""
    parts = template.split("@@")
    return "".join(values[p] if i % 2 else p for i, p in enumerate(parts))


def packed(data: Any) -> str:
    """JSON, gzip-compressed (reproducibly) and base64-encoded: the page inflates it with DecompressionStream."""
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


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
    return text


def _checks(doc: Mapping[str, Any]) -> str:
    """Whole-case checks (certificate rotation), with their facts and problems: they have no cell in the probe grid."""
    checks = doc.get("checks") or []
    if not checks:
        return ""
    rows: list[str] = []
    for c in checks:
        facts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.get("facts", {}).items())
        problems = "".join(f"<li>{_e(p)}</li>" for p in c.get("problems", []))
        rows.append(f'<tr id="check-{len(rows)}" class="{_e(c["status"])}"><td>{_e(c["case"])}</td><td>{_e(c["kind"])}</td>'
                    f'<td><b>{_e(c["status"])}</b></td><td>{_e(facts)}</td><td><ul>{problems}</ul></td></tr>')
    return ('<section class="list"><table class="checks"><caption>checks judged as a whole</caption><tr><th>case</th><th>kind</th>'
            "<th>status</th><th>facts</th><th>problems</th></tr>" + "".join(rows) + "</table></section>")


def _why(r: Mapping[str, Any]) -> str:
    """One line: why this probe did not pass."""
    if r["problems"]:
        return str(r["problems"][0])
    if r["status"] == Status.ERROR:
        first = (r["observed"]["raw"] or "").strip().splitlines()
        return "could not be observed" + (f": {first[0][:160]}" if first else "")
    return f"expected {describe(r['expected']['outcome'])}, observed {describe(r['observed']['outcome'])}"


def deciding_rule(r: Mapping[str, Any]) -> str | None:
    """The rule that decided the expectation: the last explanation step that is not about how the outcome is read."""
    steps = [str(s["rule"]) for s in r["explanation"]]
    deciding = [s for s in steps if not s.startswith("outcome.")]
    found = deciding or steps or [str(x) for x in r["expected"]["rules"]]
    return found[-1] if found else None


def _link(text: str, href: str, title: str = "") -> str:
    safe = href if href.startswith(("https://", "http://")) else "#"
    extra = f' title="{_e(title)}"' if title else ""
    return f'<a href="{_e(safe)}" target="_blank" rel="noopener noreferrer"{extra}>{_e(text)}</a>'


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()")


def _component(text: str) -> str:
    """JavaScript's encodeURIComponent (the page builds the same links; the pure core imports no URL library)."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def _hash(case: str, probe: str | None = None) -> str:
    return "#case=" + _component(case) + ("&probe=" + _component(probe) if probe else "")


def _attention(doc: Mapping[str, Any]) -> str:
    """The first screen's list: every failed or unobserved probe and failed check, each with why, rule and a link."""
    bad = sorted((r for r in doc["results"] if r["status"] != Status.PASS), key=lambda r: r["status"] != Status.FAIL)  # failed first
    bad_checks = [(i, c) for i, c in enumerate(doc.get("checks") or []) if c["status"] != Status.PASS]
    total = len(bad) + len(bad_checks)
    if not total:
        ran, skipped = doc["summary"]["probes"]["total"], doc["summary"]["cases"]["skipped"]
        text = f"All {ran} probes and every check passed." if ran else "No probe ran."
        if skipped:
            text += f" {skipped} case{'s' if skipped != 1 else ''} did not run (see Skipped cases below), so the result is {doc['result']}."
        return f'<section id="attention" class="ok"><h2>Nothing failed</h2><p>{_e(text)}</p></section>'
    rows = []
    for i, c in bad_checks:
        why = c["problems"][0] if c["problems"] else f"the {c['kind']} check did not pass"
        rows.append(f'<tr class="{_e(c["status"])}"><td><span class="badge c-{_e(c["status"])}">{_e(c["status"])}</span></td>'
                    f'<td><div class="mono what">{_e(c["case"])}</div><div class="hint">{_e(c["kind"])} check (whole case)</div></td>'
                    f'<td class="why">{_e(why)}</td><td></td><td><a href="#check-{i}">details</a></td></tr>')
    for r in bad[:ATTENTION_ROWS]:
        rule_id = deciding_rule(r)
        rule = doc["rules"].get(rule_id, {}) if rule_id else {}
        rule_cell = _link(rule_id, rule.get("source", ""), rule.get("says", "")) if rule_id else ""
        rows.append(f'<tr class="{_e(r["status"])}"><td><span class="badge c-{_e(r["status"])}">{_e(r["status"])}</span></td>'
                    f'<td><div class="mono what">{_e(r["case"])}</div><div class="mono hint">{_e(r["probe"])}</div></td>'
                    f'<td class="why">{_e(_why(r))}</td><td class="rule">{rule_cell}</td>'
                    f'<td><a class="details" href="{_e(_hash(r["case"], r["probe"]))}">details</a></td></tr>')
    more = ""
    if len(bad) > ATTENTION_ROWS:
        more = (f'<p class="hint">and {len(bad) - ATTENTION_ROWS} more failed or unobserved probes: open "Filters and grouping" '
                "below and choose verdict fail or error.</p>")
    fails = sum(1 for r in bad if r["status"] == Status.FAIL) + sum(1 for _, c in bad_checks if c["status"] == Status.FAIL)
    head = f"Needs attention: {fails} failed, {total - fails} not observed"
    return (f'<section id="attention"><h2>{_e(head)}</h2><table class="attention"><thead><tr><th>verdict</th><th>case / probe</th>'
            f"<th>why</th><th>rule</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>{more}</section>")


def _parts(results: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """[start, end) ranges of consecutive probes, about PART_PROBES each, never splitting a case."""
    ranges, start = [], 0
    for i in range(1, len(results) + 1):
        if i == len(results) or (i - start >= PART_PROBES and results[i]["case"] != results[i - 1]["case"]):
            ranges.append((start, i))
            start = i
    return ranges


def part_name(n: int) -> str:
    return f"part-{n:03d}.js"


def _part(stored: Mapping[str, Any], idx: Mapping[str, list[int]], start: int, end: int) -> dict[str, Any]:
    """Probes [start, end) of the stored (compact) report with only the pool entries they use, renumbered: a part
    reads exactly like report.json (cases keep their report-wide numbers: the page has the case table)."""
    pool, cols = stored["pool"], stored["results"]["columns"]
    used = {name: sorted(set(idx[name][start:end])) for name in INDEX_COLUMNS if name != "case"}
    used.update({item: sorted({x for i in used[name] for x in pool[name][i]}) for name, item in LIST_OF.items()})
    hows = [how for _, how in stored["expected_keys"]]
    blocks = [pool["expected"][i] for i in used["expected"]]
    arrays = [b for b in blocks if isinstance(b, list)]
    used["text"] = sorted({v for b in arrays for v, how in zip(b, hows, strict=True) if how == "text" and v is not None})
    used["lists"] = sorted({v for b in arrays for v, how in zip(b, hows, strict=True) if how == "list"})
    local = {name: {g: n for n, g in enumerate(indices)} for name, indices in used.items()}
    out_pool: dict[str, list[Any]] = {name: [pool[name][g] for g in used[name]] for name in ("probe", "observed", "raw", "evidence", "step",
                                                                                           "problem", "text", "lists")}
    for name, item in LIST_OF.items():
        out_pool[name] = [[local[item][x] for x in pool[name][g]] for g in used[name]]

    def renumber(block: Any) -> Any:
        if not isinstance(block, list):
            return block
        return [local["text"][v] if how == "text" and v is not None else local["lists"][v] if how == "list" else v
                for v, how in zip(block, hows, strict=True)]

    out_pool["expected"] = [renumber(b) for b in blocks]
    columns: dict[str, Any] = {name: cols[name][start:end] for name in VALUE_COLUMNS}
    for name in INDEX_COLUMNS:
        col = idx[name][start:end] if name == "case" else [local[name][g] for g in idx[name][start:end]]
        columns[name] = col[:1] + [b - a for a, b in pairwise(col)]
    return {"first": start, "expected_keys": stored["expected_keys"], "pool": out_pool,
            "results": {"count": end - start, "status": stored["results"]["status"][start:end], "columns": columns}}


def render_report_site(doc: Mapping[str, Any], stored: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The page and its data parts (file name -> text) for a report: ``doc`` expanded, ``stored`` as in report.json."""
    results = doc["results"]
    idx = {name: undelta(stored["results"]["columns"][name]) for name in INDEX_COLUMNS}
    case_of = idx["case"]
    ranges = _parts(results)
    parts: dict[str, str] = {}
    probes: list[list[Any]] = []
    for n, (start, end) in enumerate(ranges, 1):
        parts[part_name(n)] = f"mtlsReportPart({n},\"{packed(_part(stored, idx, start, end))}\");\n"
        for r, case in zip(results[start:end], case_of[start:end], strict=True):
            e, o = r["expected"], r["observed"]
            probes.append([case, r["probe"], r["status"], e["outcome"], o["outcome"], e["category"], o["category"],
                           e.get("server_mode"), e.get("client_sends"), n])
    dims = stored["pool"]["dimensions"]
    cases = [[c[0], c[1], dimensions_from_id(c[0]) if c[3] is None else dims[c[3]]] for c in stored["cases"]]
    summary = {k: doc[k] for k in ("run", "mesh", "result", "summary", "skipped", "version_facts", "rules")}
    summary.update(checks=doc.get("checks") or [], parts={"dir": DATA_DIR, "names": list(parts)},
                   cases=cases, probes=probes)
    mesh = doc["mesh"]
    title = f"mTLS conformance: Istio {mesh['istio_version']} ({mesh['data_plane_mode']}, {mesh['profile']}) run {doc['run']['id']}"
    text = fill(_asset("matrix.html"), {
        "TITLE": html.escape(title), "CSS": _asset("matrix.css"), "HEADER": _header(doc), "SUMMARY": _summary(doc),
        "ATTENTION": _attention(doc), "CHECKS": _checks(doc), "DATA": packed(summary), "VOCABULARY": embed_json(vocabulary()),
        "JS": _asset("matrix.js"),
    })
    return text, parts


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
