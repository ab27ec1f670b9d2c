// mtls-conformance report matrix. Reads the embedded report JSON; every string reaches the page through
// textContent or attribute setters, never as markup.
(function () {
  "use strict";
  const doc = JSON.parse(document.getElementById("report-data").textContent);
  const results = doc.results;
  // The outcome vocabulary (mtls_conformance/outcomes.py): outcome, category and verdict words.
  const VOCAB = JSON.parse(document.getElementById("vocabulary").textContent);
  const outcomeWords = (o) => VOCAB.outcomes[o] || o;

  const LABELS = {
    suite: "suite", mesh: "mesh", ns: "namespace", wl: "workload", port: "port-level", dr: "DestinationRule",
    auto: "auto mTLS", client: "client", server: "server", status: "verdict", expected: "expected", observed: "observed",
    server_mode: "server mode", client_sends: "client sends", target: "target", case: "case",
    policy: "server policy (mesh · ns · workload · port)", path: "client path (DR · auto · client→server)",
  };
  const POLICY = ["mesh", "ns", "wl", "port"];
  const PATH = ["dr", "auto", "client", "server"];
  const CASE_DIMS = [];
  for (const r of results) for (const k of Object.keys(r.dimensions)) if (!CASE_DIMS.includes(k)) CASE_DIMS.push(k);
  const ORDER = ["suite", "mesh", "ns", "wl", "port", "dr", "auto", "client", "server"];
  CASE_DIMS.sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b));

  // Composite axes show only the dimensions that vary in this report, each with a short name.
  const SHORT = { mesh: "mesh", ns: "ns", wl: "workload", port: "port", dr: "DR", auto: "auto mTLS" };
  const VARYING = CASE_DIMS.filter((k) => new Set(results.filter((r) => k in r.dimensions).map((r) => r.dimensions[k])).size > 1);
  function joinDims(r, keys) {
    const parts = [];
    for (const k of keys.filter((k) => VARYING.includes(k) && k in r.dimensions)) {
      if (k === "client" || k === "server") continue;
      parts.push(SHORT[k] + " " + r.dimensions[k]);
    }
    const hasEnds = "client" in r.dimensions || "server" in r.dimensions;
    if (keys.includes("client") && hasEnds && (VARYING.includes("client") || VARYING.includes("server"))) {
      parts.push((r.dimensions.client || "?") + " → " + (r.dimensions.server || "?"));
    }
    return parts.length ? parts.join(" · ") : "(all)";
  }
  // Every value the page can group or filter by, per result.
  function value(r, key) {
    switch (key) {
      case "case": return r.case;
      case "suite": return r.suite || "(none)";
      case "status": return r.status;
      case "expected": return r.expected.outcome;
      case "observed": return r.observed.outcome;
      case "server_mode": return r.expected.server_mode || "no sidecar";
      case "client_sends": return r.expected.client_sends;
      case "target": return r.expected.to + ":" + r.expected.port;
      case "policy": return joinDims(r, POLICY);
      case "path": return joinDims(r, PATH);
      default: return key in r.dimensions ? r.dimensions[key] : "(none)";
    }
  }
  const hasAny = (keys) => keys.some((k) => CASE_DIMS.includes(k));
  const groupKeys = ["case"].concat(hasAny(POLICY) ? ["policy"] : [], hasAny(PATH) ? ["path"] : [], CASE_DIMS,
    ["server_mode", "client_sends", "target", "expected", "observed", "status"]);
  const filterKeys = (results.some((r) => r.suite) ? ["suite"] : []).concat(CASE_DIMS.filter((k) => k !== "suite"),
    ["server_mode", "client_sends", "expected", "observed", "status"]);

  const state = { rows: hasAny(POLICY) ? "policy" : "case", cols: hasAny(PATH) ? "path" : "target", colour: "observed",
    filters: {}, search: "", selected: -1 };

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children || []) node.append(c);
    return node;
  }
  function select(id, label, options, current, onChange) {
    const s = el("select", { id: id });
    for (const [v, text] of options) {
      const o = el("option", { value: v, text: text });
      if (v === current) o.selected = true;
      s.append(o);
    }
    s.addEventListener("change", () => onChange(s.value));
    return el("label", { for: id }, [label, s]);
  }
  function sortValues(vals) {
    return vals.sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  }

  // ---- controls --------------------------------------------------------------------------------------
  function buildControls() {
    const box = document.getElementById("controls");
    const views = el("div", { class: "group" });
    const groupOptions = groupKeys.map((k) => [k, LABELS[k] || k]);
    views.append(select("rows", "rows", groupOptions, state.rows, (v) => { state.rows = v; render(); }));
    views.append(select("cols", "columns", groupOptions, state.cols, (v) => { state.cols = v; render(); }));
    views.append(select("colour", "colour by", [["observed", "observed outcome"], ["expected", "expected outcome"], ["status", "verdict"]],
      state.colour, (v) => { state.colour = v; render(); }));
    const filters = el("div", { class: "group", id: "filters" });
    for (const key of filterKeys) {
      const counts = {};
      for (const r of results) counts[value(r, key)] = (counts[value(r, key)] || 0) + 1;
      const values = sortValues(Object.keys(counts));
      if (values.length < 2 && key !== "status") continue;
      const options = [["", "all"]].concat(values.map((v) => [v, v + " (" + counts[v] + ")"]));
      filters.append(select("f-" + key, LABELS[key] || key, options, "", (v) => {
        if (v) state.filters[key] = v; else delete state.filters[key];
        render();
      }));
    }
    const search = el("input", { id: "search", type: "search", placeholder: "case or probe contains…" });
    search.addEventListener("input", () => { state.search = search.value.trim().toLowerCase(); render(); });
    filters.append(el("label", { for: "search" }, ["search", search]));
    box.append(views, el("div", { class: "sep" }), filters, el("span", { id: "shown" }));
  }

  function visible(r) {
    for (const [k, v] of Object.entries(state.filters)) if (value(r, k) !== v) return false;
    if (state.search && !(r.case + " " + r.probe).toLowerCase().includes(state.search)) return false;
    return true;
  }

  function legend() {
    const box = document.getElementById("legend");
    box.textContent = "";
    const refusals = Object.keys(VOCAB.outcomes).filter((o) => o.startsWith("refused:")).map((o) => o.slice("refused:".length));
    const entries = Object.entries(state.colour === "status" ? VOCAB.statuses : VOCAB.categories)
      .map(([k, words]) => [k, k === "refused" ? words + " (" + refusals.join(" / ") + ")" : words]);
    box.append(el("span", { text: (state.colour === "status" ? "verdict" : state.colour + " outcome") + ":" }));
    for (const [cls, text] of entries) box.append(el("span", {}, [el("span", { class: "sw c-" + cls }), text]));
    const ring = el("span", { class: "sw c-" + (state.colour === "status" ? "fail" : "mtls") });
    ring.style.boxShadow = "0 0 0 2px var(--fail)";
    box.append(el("span", {}, [ring, "red ring / ✕: the verdict failed"]));
  }

  function colourOf(r) {
    if (state.colour === "status") return r.status === "error" ? "error" : r.status;
    return state.colour === "expected" ? r.expected.category : r.observed.category;
  }

  // A composite label ("mesh STRICT · DR none") on stacked lines keeps the columns narrow.
  function stacked(label) {
    return label.split(" · ").map((part) => el("div", { text: part }));
  }

  // ---- the matrix --------------------------------------------------------------------------------------
  function render() {
    const shown = [];
    results.forEach((r, i) => { if (visible(r)) shown.push(i); });
    document.getElementById("shown").textContent = "showing " + shown.length + " of " + results.length + " probes";
    legend();
    const rowVals = sortValues([...new Set(shown.map((i) => value(results[i], state.rows)))]);
    const colVals = sortValues([...new Set(shown.map((i) => value(results[i], state.cols)))]);
    const wrap = document.getElementById("matrix");
    wrap.textContent = "";
    if (!shown.length) { wrap.append(el("p", { class: "empty", text: "No probe matches the filters." })); return; }
    const brief = (k) => ({ policy: "server policy", path: "client path" })[k] || LABELS[k] || k;
    const corner = el("th", { class: "corner" }, [el("div", { text: "rows: " + brief(state.rows) }),
      el("div", { text: "columns: " + brief(state.cols) })]);
    const head = el("tr", {}, [corner]);
    for (const c of colVals) head.append(el("th", {}, stacked(c)));
    const body = el("tbody");
    for (const rv of rowVals) {
      const tr = el("tr", {}, [el("th", {}, stacked(rv))]);
      for (const cv of colVals) {
        const cells = el("div", { class: "cells" });
        for (const i of shown) {
          const r = results[i];
          if (value(r, state.rows) !== rv || value(r, state.cols) !== cv) continue;
          const b = el("button", {
            class: "cell c-" + colourOf(r) + " v-" + r.status + (i === state.selected ? " selected" : ""),
            type: "button", "data-idx": String(i),
            title: r.case + "\n" + r.probe + "\nexpected " + r.expected.outcome + ", observed " + r.observed.outcome + " → " + r.status,
            "aria-label": r.case + " " + r.probe + " " + r.status,
          });
          if (r.status === "fail") b.textContent = "✕";
          else if (r.status === "error") b.textContent = "?";
          b.addEventListener("click", () => choose(i));
          cells.append(b);
        }
        tr.append(el("td", {}, [cells]));
      }
      body.append(tr);
    }
    wrap.append(el("table", { class: "matrix" }, [el("thead", {}, [head]), body]));
  }

  // ---- the detail panel ----------------------------------------------------------------------------------
  function kv(rows) {
    const t = el("table", { class: "kv" });
    for (const [k, v] of rows) {
      if (v === null || v === undefined || v === "") continue;
      t.append(el("tr", {}, [el("th", { text: k }), el("td", { class: typeof v === "string" && v.length > 24 ? "mono" : "", text: String(v) })]));
    }
    return t;
  }
  function link(text, href) {
    const safe = /^https?:\/\//.test(href) ? href : "#";
    return el("a", { href: safe, target: "_blank", rel: "noopener noreferrer", text: text });
  }
  function rule(id) {
    return doc.rules[id] || { says: "", source: "" };
  }
  function badge(status) {
    return el("span", { class: "badge c-" + (status === "error" ? "error" : status), text: VOCAB.statuses[status] || status });
  }

  function choose(i) {
    state.selected = i;
    for (const b of document.querySelectorAll(".cell.selected")) b.classList.remove("selected");
    const b = document.querySelector('.cell[data-idx="' + i + '"]');
    if (b) b.classList.add("selected");
    showDetail(results[i]);
    const hash = "#case=" + encodeURIComponent(results[i].case) + "&probe=" + encodeURIComponent(results[i].probe);
    if (location.hash !== hash) history.replaceState(null, "", hash);
  }

  function showDetail(r) {
    const box = document.getElementById("detail");
    box.textContent = "";
    const e = r.expected, o = r.observed;
    box.append(el("h2", { text: r.case }), el("div", { class: "mono", text: r.probe }), el("p", {}, [badge(r.status)]));
    const exp = el("div", {}, [el("div", { class: "hint", text: "expected (engine)" }), el("div", { class: "big", text: outcomeWords(e.outcome) }),
      el("div", { class: "mono", text: e.outcome })]);
    const obs = el("div", {}, [el("div", { class: "hint", text: "observed" }), el("div", { class: "big", text: outcomeWords(o.outcome) }),
      el("div", { class: "mono", text: o.outcome })]);
    box.append(el("div", { class: "cmp" }, [exp, obs]));
    if (r.problems.length) {
      box.append(el("h3", { text: "why it failed" }), el("ul", { class: "problems" }, r.problems.map((p) => el("li", { text: p }))));
    }
    box.append(el("h3", { text: "expected" }), kv([
      ["server mode", e.server_mode || "no sidecar"], ["client sends", e.client_sends], ["address", e.address + " port " + e.port],
      ["target port", e.target_port], ["protocol", e.protocol], ["client identity", e.client_principal], ["server identity", e.server_principal],
    ]));
    box.append(el("h3", { text: "observed" }), kv([
      ["probe outcome", o.probe_outcome], ["HTTP status", o.http_status], ["curl exit", o.curl_exit],
      ["mTLS", o.mtls === null ? "unknown" : (o.mtls ? "yes" : "no")], ["X-Forwarded-Client-Cert", o.xfcc],
      ["client identity", o.client_identity], ["server identity", o.server_identity],
      ["probe duration", o.duration_s === null ? null : o.duration_s + " s"],
      ["convergence", r.convergence_s === null ? "not measured" : r.convergence_s + " s"],
    ]));
    box.append(el("h3", { text: "evidence" }));
    if (!r.evidence.length) box.append(el("p", { class: "hint", text: "No evidence beyond the probe itself." }));
    for (const ev of r.evidence) {
      const says = ev.says_mtls === null ? "cannot tell" : (ev.says_mtls ? "says mTLS" : "says plaintext");
      box.append(kv([["source", ev.source + " (" + says + ")"], ["detail", ev.detail], ["artefact", ev.artefact]]));
    }
    box.append(el("h3", { text: "engine explanation" }));
    box.append(el("ol", { class: "steps" }, r.explanation.map((s) => el("li", {}, [
      el("div", { text: s.detail }), el("div", { class: "rule" }, [link(s.rule, rule(s.rule).source)]),
    ]))));
    box.append(el("h3", { text: "rules applied" }));
    box.append(el("ul", {}, e.rules.map((id) => {
      const ru = rule(id);
      const item = el("li", { class: "rule" }, [link(id, ru.source), ": " + ru.says]);
      if (ru.contradiction) item.append(el("div", { class: "hint", text: "docs vs code: " + ru.contradiction }));
      return item;
    })));
    const dims = Object.entries(r.dimensions);
    if (dims.length || r.features.length) {
      box.append(el("h3", { text: "case" }), el("div", { class: "chips" },
        dims.map(([k, v]) => el("span", { class: "chip", text: (LABELS[k] || k) + ": " + v })).concat(r.features.map((f) => el("span", { class: "chip", text: f })))));
    }
    box.append(el("h3", { text: "probe output" }), el("pre", { text: o.raw || "(empty)" }));
  }

  // ---- lists below the matrix ------------------------------------------------------------------------------
  function buildLists() {
    const failed = document.getElementById("failures");
    const bad = [];
    results.forEach((r, i) => { if (r.status === "fail" || r.status === "error") bad.push(i); });
    failed.append(el("h2", { text: "Failed or unobserved probes (" + bad.length + ")" }));
    if (!bad.length) failed.append(el("p", { class: "empty", text: "None." }));
    else {
      const t = el("table");
      t.append(el("tr", {}, ["case", "probe", "expected", "observed"].map((h) => el("th", { text: h }))));
      for (const i of bad) {
        const r = results[i];
        const go = el("button", { class: "link", type: "button", text: r.case });
        go.addEventListener("click", () => choose(i));
        t.append(el("tr", {}, [el("td", {}, [go]), el("td", { class: "mono", text: r.probe }), el("td", { text: outcomeWords(r.expected.outcome) }), el("td", { text: outcomeWords(r.observed.outcome) })]));
      }
      failed.append(t);
    }
    const skipped = document.getElementById("skipped");
    skipped.append(el("h2", { text: "Skipped cases (" + doc.skipped.length + ")" }));
    if (!doc.skipped.length) skipped.append(el("p", { class: "empty", text: "None." }));
    else {
      const t = el("table");
      t.append(el("tr", {}, [el("th", { text: "case" }), el("th", { text: "reason" })]));
      for (const s of doc.skipped) t.append(el("tr", {}, [el("td", { class: "mono", text: s.case }), el("td", { text: s.reason })]));
      skipped.append(t);
    }
  }

  function buildFacts() {
    const box = document.getElementById("facts");
    box.append(el("h2", { text: "Version facts for Istio " + doc.mesh.istio_version + " (" + doc.version_facts.length + ")" }));
    const t = el("table");
    t.append(el("tr", {}, ["fact", "kind", "says", "source"].map((h) => el("th", { text: h }))));
    for (const f of doc.version_facts) {
      t.append(el("tr", {}, [el("td", { class: "mono", text: f.id }), el("td", { text: f.kind }), el("td", { text: f.says }),
        el("td", {}, [link(f.source, f.source)])]));
    }
    box.append(t);
  }

  function fromHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const c = params.get("case"), p = params.get("probe");
    if (!c) return;
    const i = results.findIndex((r) => r.case === c && (!p || r.probe === p));
    if (i >= 0) choose(i);
  }

  buildControls();
  buildLists();
  buildFacts();
  render();
  fromHash();
  window.addEventListener("hashchange", fromHash);
})();
