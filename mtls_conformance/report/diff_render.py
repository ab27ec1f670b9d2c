"""Text and HTML renderings of a run diff and of the engine's version prediction."""

from __future__ import annotations

import html
from collections.abc import Sequence

from mtls_conformance.outcomes import describe
from mtls_conformance.report.diff import CLASSES, FactChange, ProbeChange, RunDiff
from mtls_conformance.report.html import plain_page
from mtls_conformance.report.predict import Prediction


def _n(count: int, word: str) -> str:
    """``1 probe``, ``2 probes``: the counts these pages print."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def _facts_text(facts: Sequence[FactChange], old: str, new: str) -> list[str]:
    if not facts:
        return [f"Version facts that differ between {old} and {new}: none."]
    lines = [f"Version facts that differ between {old} and {new}:"]
    for f in facts:
        holds = f"holds for {new} only" if f.change == "added" else f"holds for {old} only"
        lines += [f"  {f.id} [{f.kind}] {holds}", f"    {f.says}", f"    source: {f.source}"]
    return lines


def _run_label(identity: dict[str, object] | object) -> str:
    assert isinstance(identity, dict)
    synthetic = ", synthetic" if identity.get("synthetic") else ""
    return f"Istio {identity['istio_version']} (run {identity['run']}, {identity['profile']}{synthetic})"


def _change_text(c: ProbeChange) -> list[str]:
    lines = [
        f"{c.classification.upper():<12} {c.case}",
        f"  probe:    {c.probe}",
        f"  observed: {describe(c.old_observed)} -> {describe(c.new_observed)}",
        f"  engine:   {describe(c.old_expected)} -> {describe(c.new_expected)}",
        f"  why:      {c.reason}",
    ]
    lines += [f"  rule:     {r['id']}: {r['says']} ({r['source']})" for r in c.rules]
    return lines


def run_diff_text(d: RunDiff) -> str:
    old_v, new_v = str(d.old["istio_version"]), str(d.new["istio_version"])
    counts = ", ".join(f"{d.counts[c]} {c}" for c in CLASSES)
    lines = [
        f"Conformance diff: {_run_label(d.old)} -> {_run_label(d.new)}",
        f"Compared {_n(d.compared, 'probe')} present in both runs; {len(d.changes)} changed observed behaviour ({counts}).",
    ]
    if not d.changes:
        lines.append("No probe changed observed behaviour.")
    for c in d.changes:
        lines += ["", *_change_text(c)]
    if d.missed:
        lines += ["", f"Predicted by the engine but not observed ({len(d.missed)}):"]
        for c in d.missed:
            lines += ["", *_change_text(c)]
    for title, items in (("Only in the old run", d.only_old), ("Only in the new run", d.only_new)):
        if items:
            lines += ["", f"{title} ({len(items)}):", *(f"  {i}" for i in items)]
    lines += ["", *_facts_text(d.facts, old_v, new_v)]
    return "\n".join(lines)


def prediction_text(p: Prediction) -> str:
    old, new = str(p.old), str(p.new)
    behaviour = [c for c in p.changes if c.outcome_changed]
    reasoning = [c for c in p.changes if not c.outcome_changed]
    lines = [
        f"Engine prediction, Istio {old} -> {new} (no cluster): {_n(p.cases, 'case')}, {_n(p.probes, 'probe')} from {p.source}, "
        "expectations computed for both versions.",
    ]
    if not behaviour:
        lines.append(f"No change in mTLS behaviour is predicted: all {_n(p.probes, 'probe')} keep the same expected outcome.")
    else:
        lines.append(f"{_n(len(behaviour), 'probe')} {'is' if len(behaviour) == 1 else 'are'} predicted to change behaviour:")
        for c in behaviour:
            lines += [
                "", f"CHANGE       {c.case}", f"  probe:    {c.probe}",
                f"  expected: {describe(c.old_outcome)} -> {describe(c.new_outcome)}",
                *(f"  {i}. {detail} [{rule}: {source}]" for i, (rule, detail, source) in enumerate(c.new_steps, 1)),
            ]
    if reasoning:
        lines += ["", f"{_n(len(reasoning), 'probe')} {'keeps its' if len(reasoning) == 1 else 'keep their'} outcome but the engine's reasoning differs (rules cited):"]
        lines += [f"  {c.case} {c.probe}: {', '.join(c.old_rules)} -> {', '.join(c.new_rules)}" for c in reasoning]
    for title, items in ((f"Cases planned for {old} only", p.only_old), (f"Cases planned for {new} only", p.only_new)):
        if items:
            lines += ["", f"{title} ({len(items)}):", *(f"  {i}" for i in items)]
    lines += ["", *_facts_text(p.fact_changes, old, new)]
    lines += ["", f"Version facts compared ({len(p.facts_compared)}; data/istio-versions.yaml):"]
    for f, a, b in p.facts_compared:
        mark = "same " if a == b else "DIFF "
        lines.append(f"  {mark} {f.id} [{f.kind}] {old}: {'holds' if a else 'no'}, {new}: {'holds' if b else 'no'} ({f.source})")
    return "\n".join(lines)


# ---- HTML -------------------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value))


def _link(url: str) -> str:
    href = url if url.startswith(("https://", "http://")) else "#"
    return f'<a href="{_e(href)}" target="_blank" rel="noopener noreferrer">{_e(url)}</a>'


def _facts_html(facts: Sequence[FactChange]) -> str:
    if not facts:
        return '<p class="empty">No version fact differs between the two versions.</p>'
    rows = "".join(f"<tr><td class=mono>{_e(f.id)}</td><td>{_e(f.change)}</td><td>{_e(f.says)}</td><td>{_link(f.source)}</td></tr>"
                   for f in facts)
    return f'<table class="diff"><tr><th>fact</th><th>change</th><th>says</th><th>source</th></tr>{rows}</table>'


def run_diff_html(d: RunDiff) -> str:
    stats = "".join(f'<div class="stat {"fail" if c == "regression" else ""}"><span class="n">{d.counts[c]}</span>'
                    f'<span class="l">{_e(c)}</span></div>' for c in CLASSES)
    stats += (f'<div class="stat"><span class="n">{len(d.missed)}</span><span class="l">predicted, not observed</span></div>'
              f'<div class="stat"><span class="n">{d.compared}</span><span class="l">probes compared</span></div>')
    rows = []
    for c in (*d.changes, *d.missed):
        rules = "<br>".join(f"{_e(r['id'])}: {_e(r['says'])} {_link(r['source'])}" for r in c.rules)
        rows.append(
            f'<tr><td class="cls-{_e(c.classification)}">{_e(c.classification)}</td><td class="mono">{_e(c.case)}<br>{_e(c.probe)}</td>'
            f"<td>{_e(describe(c.old_observed))} → {_e(describe(c.new_observed))}</td>"
            f"<td>{_e(describe(c.old_expected))} → {_e(describe(c.new_expected))}</td>"
            f'<td>{_e(c.reason)}<div class="rule">{rules}</div></td></tr>'
        )
    table = ('<table class="diff"><tr><th>class</th><th>case / probe</th><th>observed (old → new)</th><th>engine (old → new)</th>'
             "<th>why</th></tr>" + "".join(rows) + "</table>") if rows else '<p class="empty">No probe changed observed behaviour.</p>'
    only = "".join(
        f'<section class="list"><h2>{_e(title)} ({len(items)})</h2><ul>' + "".join(f"<li class=mono>{_e(i)}</li>" for i in items) + "</ul></section>"
        for title, items in (("Only in the old run", d.only_old), ("Only in the new run", d.only_new)) if items
    )
    header = (f"<h1>mTLS behaviour diff</h1><div class=\"meta\"><span>old <b>{_e(_run_label(d.old))}</b></span>"
              f"<span>new <b>{_e(_run_label(d.new))}</b></span></div>")
    body = (f'<section class="list"><h2>Changed probes</h2>{table}</section>{only}'
            f'<section class="list"><h2>Version facts that differ</h2>{_facts_html(d.facts)}</section>')
    return plain_page(f"mTLS diff: Istio {d.old['istio_version']} -> {d.new['istio_version']}", header, stats, body, d.as_dict())


def prediction_html(p: Prediction) -> str:
    rows = "".join(
        f'<tr><td class="mono">{_e(c.case)}<br>{_e(c.probe)}</td><td>{_e(describe(c.old_outcome))} → '
        f"{_e(describe(c.new_outcome))}</td><td>{_e(', '.join(c.new_rules))}</td></tr>"
        for c in p.changes
    )
    table = (f'<table class="diff"><tr><th>case / probe</th><th>expected ({_e(p.old)} → {_e(p.new)})</th><th>rules</th></tr>{rows}</table>'
             if rows else f'<p class="empty">No change predicted: all {p.probes} probes keep the same expected outcome and reasoning.</p>')
    header = f"<h1>Engine prediction: Istio {_e(p.old)} → {_e(p.new)}</h1><div class=\"meta\"><span>{p.cases} cases, {p.probes} probes from {_e(p.source)}</span></div>"
    body = (f'<section class="list"><h2>Predicted changes</h2>{table}</section>'
            f'<section class="list"><h2>Version facts that differ</h2>{_facts_html(p.fact_changes)}</section>')
    changed = sum(1 for c in p.changes if c.outcome_changed)
    stats = "".join(f'<div class="stat"><span class="n">{n}</span><span class="l">{_e(label)}</span></div>' for n, label in
                    ((p.cases, "cases"), (p.probes, "probes"), (changed, "behaviour changes"), (len(p.fact_changes), "facts differ")))
    return plain_page(f"mTLS prediction: Istio {p.old} -> {p.new}", header, stats, body, p.as_dict())
