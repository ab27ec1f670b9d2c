// mtls-conformance report page. The first screen (verdict, counts, what needs attention) is plain HTML; this script
// inflates the compact summary (every probe's case, verdict and outcomes) to draw the grid and the filters, and loads
// a probe's details from data/part-NNN.js (a script element: Chromium refuses fetch on file:// pages) when it is opened.
// Every string reaches the page through textContent or attribute setters, never as markup.
(function () {
  "use strict";
  const VOCAB = JSON.parse(document.getElementById("vocabulary").textContent);
  const outcomeWords = (o) => VOCAB.outcomes[o] || o;

  async function inflate(b64) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }

  const LABELS = {
    suite: "suite", mesh: "mesh", ns: "namespace", wl: "workload", port: "port-level", dr: "DestinationRule",
    auto: "auto mTLS", client: "client", server: "server", status: "verdict", expected: "expected", observed: "observed",
    server_mode: "server mode", client_sends: "client sends", target: "target", case: "case",
    policy: "server policy (mesh · ns · workload · port)", path: "client path (DR · auto · client→server)",
  };
  const POLICY = ["mesh", "ns", "wl", "port"];
  const PATH = ["dr", "auto", "client", "server"];
  const ORDER = ["suite", "mesh", "ns", "wl", "port", "dr", "auto", "client", "server"];
  const SHORT = { mesh: "mesh", ns: "ns", wl: "workload", port: "port", dr: "DR", auto: "auto mTLS" };

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
  const sortValues = (vals) => vals.sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));

  let doc, cases, probes, CASE_DIMS, VARYING, state;
  // A probe of the summary: [case, probe, status, expected, observed, expected category, observed category,
  // server mode, client sends, part]; its case: [id, suite, dimensions].
  const P = { case: 0, probe: 1, status: 2, exp: 3, obs: 4, expCat: 5, obsCat: 6, mode: 7, sends: 8, part: 9 };
  const dimsOf = (p) => cases[p[P.case]][2];
  const isNamed = (p) => !POLICY.concat(PATH).some((k) => k in dimsOf(p));

  function joinDims(d, keys) {
    const parts = [];
    for (const k of keys.filter((k) => VARYING.includes(k) && k in d)) {
      if (k === "client" || k === "server") continue;
      parts.push(SHORT[k] + " " + d[k]);
    }
    if (keys.includes("client") && ("client" in d || "server" in d) && (VARYING.includes("client") || VARYING.includes("server"))) {
      parts.push((d.client || "?") + " → " + (d.server || "?"));
    }
    return parts.length ? parts.join(" · ") : "(same everywhere)";
  }
  function target(p) {
    const probe = p[P.probe], arrow = probe.indexOf("->");
    return arrow >= 0 ? probe.slice(arrow + 2) : probe;
  }
  function value(p, key) {
    const d = dimsOf(p);
    switch (key) {
      case "case": return cases[p[P.case]][0];
      case "suite": return cases[p[P.case]][1] || "(none)";
      case "status": return p[P.status];
      case "expected": return p[P.exp];
      case "observed": return p[P.obs];
      case "server_mode": return p[P.mode] || "no sidecar";
      case "client_sends": return p[P.sends] || "(none)";
      case "target": return target(p);
      case "policy": return joinDims(d, POLICY);
      case "path": return joinDims(d, PATH);
      default: return key in d ? d[key] : "(none)";
    }
  }

  // ---- controls (inside the collapsed "Filters and grouping") -----------------------------------------------------
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
  function buildControls() {
    const hasAny = (keys) => keys.some((k) => CASE_DIMS.includes(k));
    const groupKeys = ["case"].concat(hasAny(POLICY) ? ["policy"] : [], hasAny(PATH) ? ["path"] : [], CASE_DIMS,
      ["server_mode", "client_sends", "target", "expected", "observed", "status"]);
    const filterKeys = ["suite"].concat(CASE_DIMS.filter((k) => k !== "suite"), ["server_mode", "client_sends", "expected", "observed", "status"]);
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
      for (const p of probes) { const v = value(p, key); counts[v] = (counts[v] || 0) + 1; }
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
    box.append(views, el("div", { class: "sep" }), filters);
  }
  function visible(p) {
    for (const [k, v] of Object.entries(state.filters)) if (value(p, k) !== v) return false;
    if (state.search && !(cases[p[P.case]][0] + " " + p[P.probe]).toLowerCase().includes(state.search)) return false;
    return true;
  }

  function legend(shown) {
    const box = document.getElementById("legend");
    box.textContent = "";
    const refusals = Object.keys(VOCAB.outcomes).filter((o) => o.startsWith("refused:")).map((o) => o.slice("refused:".length));
    const entries = Object.entries(state.colour === "status" ? VOCAB.statuses : VOCAB.categories)
      .map(([k, words]) => [k, k === "refused" ? words + " (" + refusals.join(" / ") + ")" : words]);
    box.append(el("b", { id: "shown", text: "showing " + shown + " of " + probes.length + " probes" }));
    box.append(el("span", { text: "colour: " + (state.colour === "status" ? "verdict" : state.colour + " outcome") }));
    for (const [cls, text] of entries) box.append(el("span", {}, [el("span", { class: "sw c-" + cls }), text]));
    const ring = el("span", { class: "sw c-" + (state.colour === "status" ? "fail" : "mtls") });
    ring.style.boxShadow = "0 0 0 2px var(--fail)";
    box.append(el("span", {}, [ring, "red ring ✕ failed, amber ring ? not observed"]));
    const n = Object.keys(state.filters).length + (state.search ? 1 : 0);
    document.getElementById("active").textContent = n ? "(" + n + " active)" : "";
  }
  function colourOf(p) {
    if (state.colour === "status") return p[P.status];
    return state.colour === "expected" ? p[P.expCat] : p[P.obsCat];
  }
  const stacked = (label) => label.split(" · ").map((part) => el("div", { text: part }));

  // ---- the grids: matrix cases by their coordinates, named cases one row per case -----------------------------
  function grid(idxs, rowKey, colKey, corner) {
    const rowVals = sortValues([...new Set(idxs.map((i) => value(probes[i], rowKey)))]);
    const colVals = sortValues([...new Set(idxs.map((i) => value(probes[i], colKey)))]);
    const rowAt = new Map(rowVals.map((v, n) => [v, n])), colAt = new Map(colVals.map((v, n) => [v, n]));
    const buckets = rowVals.map(() => colVals.map(() => []));
    for (const i of idxs) buckets[rowAt.get(value(probes[i], rowKey))][colAt.get(value(probes[i], colKey))].push(i);
    const head = el("tr", {}, [el("th", { class: "corner" }, corner)]);
    for (const c of colVals) head.append(el("th", {}, stacked(c)));
    const body = el("tbody");
    rowVals.forEach((rv, r) => {
      const tr = el("tr", {}, [el("th", {}, stacked(rv))]);
      colVals.forEach((_, c) => {
        const cells = el("div", { class: "cells" });
        for (const i of buckets[r][c]) {
          const p = probes[i], st = p[P.status];
          const b = el("button", {
            class: "cell c-" + colourOf(p) + " v-" + st + (i === state.selected ? " selected" : ""), type: "button", "data-idx": String(i),
            title: cases[p[P.case]][0] + "\n" + p[P.probe] + "\nexpected " + p[P.exp] + ", observed " + p[P.obs] + " → " + st,
            "aria-label": cases[p[P.case]][0] + " " + p[P.probe] + " " + st,
          });
          if (st === "fail") b.textContent = "✕"; else if (st === "error") b.textContent = "?";
          cells.append(b);
        }
        tr.append(el("td", {}, [cells]));
      });
      body.append(tr);
    });
    return el("table", { class: "matrix" }, [el("thead", {}, [head]), body]);
  }
  function render() {
    const matrix = [], named = [];
    probes.forEach((p, i) => { if (visible(p)) (isNamed(p) ? named : matrix).push(i); });
    legend(matrix.length + named.length);
    const brief = (k) => ({ policy: "server policy", path: "client path" })[k] || LABELS[k] || k;
    const wrap = document.getElementById("matrix"), nbox = document.getElementById("named");
    wrap.textContent = ""; nbox.textContent = "";
    if (!matrix.length && !named.length) { wrap.append(el("p", { class: "empty", text: "No probe matches the filters." })); return; }
    if (matrix.length) {
      wrap.append(el("h2", { text: "Matrix cases (" + matrix.length + " probes)" }),
        grid(matrix, state.rows, state.cols, [el("div", { text: "rows: " + brief(state.rows) }), el("div", { text: "columns: " + brief(state.cols) })]));
    }
    if (named.length) {
      // Named cases have no matrix coordinates: one row per case, one column per probe target.
      nbox.append(el("h2", { text: "Named cases (" + named.length + " probes)" }),
        grid(named, "case", "target", [el("div", { text: "rows: case" }), el("div", { text: "columns: target" })]));
    }
  }

  // ---- details, loaded per data part ------------------------------------------------------------------------
  const parts = {}, waiting = {};
  window.mtlsReportPart = function (n, b64) {
    inflate(b64).then(undelta).then((data) => { parts[n] = data; (waiting[n] || []).forEach((w) => w.ok(data)); delete waiting[n]; },
      (err) => (waiting[n] || []).forEach((w) => w.fail(err)));
  };
  function loadPart(n) {
    if (parts[n]) return Promise.resolve(parts[n]);
    return new Promise((ok, fail) => {
      const first = !waiting[n];
      (waiting[n] = waiting[n] || []).push({ ok: ok, fail: fail });
      if (!first) return;
      const s = el("script", { src: doc.parts.dir + "/" + doc.parts.names[n - 1] });
      s.onerror = () => { (waiting[n] || []).forEach((w) => w.fail(new Error("not found"))); delete waiting[n]; };
      document.body.append(s);
    });
  }
  // A part: {first, pool, expected_keys, results: {status, columns}} (mtls_conformance/report/compact.py); the index
  // columns are delta-coded, and decoded once when the part arrives.
  const INDEX_COLUMNS = ["case", "probe", "expected", "observed", "raw", "evidence_list", "explanation", "problems"];
  function undelta(part) {
    part.idx = {};
    for (const name of INDEX_COLUMNS) {
      let total = 0;
      part.idx[name] = part.results.columns[name].map((d) => (total += d));
    }
    return part;
  }
  function expand(data, i) {
    const k = i - data.first, pool = data.pool, x = data.idx, cols = data.results.columns;
    const c = x.case[k];
    const status = { p: "pass", f: "fail", e: "error" }[data.results.status[k]];
    const exp = pool.expected[x.expected[k]];
    const unpack = (how, v) => how === "text" ? (v === null ? null : pool.text[v]) : (how === "list" ? pool.lists[v] : v);
    const expected = Array.isArray(exp) ? Object.fromEntries(data.expected_keys.map(([key, how], n) => [key, unpack(how, exp[n])])) : exp;
    return {
      case: cases[c][0], probe: pool.probe[x.probe[k]], suite: cases[c][1], dimensions: cases[c][2], status: status, expected: expected,
      observed: Object.assign({}, pool.observed[x.observed[k]], { duration_s: cols.duration_s[k], raw: pool.raw[x.raw[k]] }),
      evidence: pool.evidence_list[x.evidence_list[k]].map((n) => pool.evidence[n]), convergence_s: cols.convergence_s[k],
      problems: pool.problems[x.problems[k]].map((n) => pool.problem[n]),
      explanation: pool.explanation[x.explanation[k]].map((n) => pool.step[n]),
    };
  }

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
  const rule = (id) => doc.rules[id] || { says: "", source: "" };
  const badge = (status) => el("span", { class: "badge c-" + status, text: VOCAB.statuses[status] || status });

  function openPanel(children) {
    const box = document.getElementById("detail");
    box.hidden = false;
    document.getElementById("main").classList.add("with-detail");
    box.textContent = "";
    const close = el("button", { class: "close", type: "button", title: "close the details", text: "×" });
    close.addEventListener("click", () => {
      box.hidden = true; document.getElementById("main").classList.remove("with-detail");
      state.selected = -1; markSelected();
      history.replaceState(null, "", location.pathname + location.search);
    });
    box.append(close, ...children);
    return box;
  }
  function markSelected() {
    for (const b of document.querySelectorAll(".cell.selected")) b.classList.remove("selected");
    const b = document.querySelector('.cell[data-idx="' + state.selected + '"]');
    if (b) b.classList.add("selected");
  }
  function choose(i, scroll) {
    state.selected = i;
    markSelected();
    const p = probes[i];
    const hash = "#case=" + encodeURIComponent(cases[p[P.case]][0]) + "&probe=" + encodeURIComponent(p[P.probe]);
    if (location.hash !== hash) history.replaceState(null, "", hash);
    const box = openPanel([el("h2", { text: cases[p[P.case]][0] }), el("div", { class: "mono", text: p[P.probe] }),
      el("p", { class: "hint", text: "Loading the details…" })]);
    if (scroll) {  // from a link: show the probe's square (ringed) beside its details
      const cell = document.querySelector('.cell[data-idx="' + i + '"]');
      (cell || document.getElementById("main")).scrollIntoView({ block: cell ? "center" : "start", inline: "nearest" });
    }
    loadPart(p[P.part]).then((data) => { if (state.selected === i) showDetail(expand(data, i)); }, () => {
      box.append(el("p", { class: "problems", text: "Could not load " + doc.parts.dir + "/" + doc.parts.names[p[P.part] - 1] +
        ": keep the data folder beside this page (report.json holds the same details)." }));
    });
  }

  function showDetail(r) {
    const e = r.expected, o = r.observed;
    const parts = [el("h2", { text: r.case }), el("div", { class: "mono", text: r.probe }), el("p", {}, [badge(r.status)])];
    const exp = el("div", {}, [el("div", { class: "hint", text: "expected (engine)" }), el("div", { class: "big", text: outcomeWords(e.outcome) }),
      el("div", { class: "mono", text: e.outcome })]);
    const obs = el("div", {}, [el("div", { class: "hint", text: "observed" }), el("div", { class: "big", text: outcomeWords(o.outcome) }),
      el("div", { class: "mono", text: o.outcome })]);
    parts.push(el("div", { class: "cmp" }, [exp, obs]));
    if (r.problems.length) parts.push(el("h3", { text: r.status === "error" ? "why it was not observed" : "why it failed" }), el("ul", { class: "problems" }, r.problems.map((p) => el("li", { text: p }))));
    parts.push(el("h3", { text: "expected" }), kv([
      ["server mode", e.server_mode || "no sidecar"], ["client sends", e.client_sends], ["address", e.address + " port " + e.port],
      ["target port", e.target_port], ["protocol", e.protocol], ["client identity", e.client_principal], ["server identity", e.server_principal],
    ]));
    parts.push(el("h3", { text: "observed" }), kv([
      ["probe outcome", o.probe_outcome], ["HTTP status", o.http_status], ["curl exit", o.curl_exit],
      ["mTLS", o.mtls === null ? "unknown" : (o.mtls ? "yes" : "no")], ["X-Forwarded-Client-Cert", o.xfcc],
      ["client identity", o.client_identity], ["server identity", o.server_identity],
      ["probe duration", o.duration_s === null ? null : o.duration_s + " s"],
      ["convergence", r.convergence_s === null ? "not measured" : r.convergence_s + " s"],
    ]));
    parts.push(el("h3", { text: "evidence" }));
    if (!r.evidence.length) parts.push(el("p", { class: "hint", text: "No evidence beyond the probe itself." }));
    for (const ev of r.evidence) {
      const says = ev.says_mtls === null ? "cannot tell" : (ev.says_mtls ? "says mTLS" : "says plaintext");
      parts.push(kv([["source", ev.source + " (" + says + ")"], ["detail", ev.detail], ["artefact", ev.artefact]]));
    }
    parts.push(el("h3", { text: "engine explanation" }), el("ol", { class: "steps" }, r.explanation.map((s) => el("li", {}, [
      el("div", { text: s.detail }), el("div", { class: "rule" }, [link(s.rule, rule(s.rule).source)]),
    ]))));
    parts.push(el("h3", { text: "rules applied" }), el("ul", {}, e.rules.map((id) => {
      const ru = rule(id);
      const item = el("li", { class: "rule" }, [link(id, ru.source), ": " + ru.says]);
      if (ru.contradiction) item.append(el("div", { class: "hint", text: "docs vs code: " + ru.contradiction }));
      return item;
    })));
    const dims = Object.entries(r.dimensions);
    if (dims.length) parts.push(el("h3", { text: "case" }), el("div", { class: "chips" }, dims.map(([k, v]) => el("span", { class: "chip", text: (LABELS[k] || k) + ": " + v }))));
    parts.push(el("h3", { text: "probe output" }), el("pre", { text: o.raw || "(empty)" }));
    openPanel(parts);
  }

  // ---- lists below the grid --------------------------------------------------------------------------------
  function buildLists() {
    const skipped = document.getElementById("skipped");
    skipped.append(el("h2", { text: "Skipped cases (" + doc.skipped.length + ")" }));
    if (!doc.skipped.length) skipped.append(el("p", { class: "empty", text: "None." }));
    else {
      const t = el("table");
      t.append(el("tr", {}, [el("th", { text: "case" }), el("th", { text: "reason" })]));
      for (const s of doc.skipped) t.append(el("tr", {}, [el("td", { class: "mono", text: s.case }), el("td", { text: s.reason })]));
      skipped.append(t);
    }
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

  let byKey = null;
  function fromHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const c = params.get("case"), p = params.get("probe");
    if (!c || !probes) return;
    if (!byKey) { byKey = new Map(); probes.forEach((q, i) => { const k = cases[q[P.case]][0] + "\n" + q[P.probe]; if (!byKey.has(k)) byKey.set(k, i); }); }
    let i = p ? byKey.get(c + "\n" + p) : undefined;
    if (i === undefined) i = probes.findIndex((q) => cases[q[P.case]][0] === c && (!p || q[P.probe] === p));
    if (i >= 0) choose(i, true);
  }

  inflate(document.getElementById("report-data").textContent.trim()).then((data) => {
    doc = data; cases = data.cases; probes = data.probes;
    CASE_DIMS = [];
    for (const c of cases) for (const k of Object.keys(c[2])) if (!CASE_DIMS.includes(k)) CASE_DIMS.push(k);
    CASE_DIMS.sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b));
    VARYING = CASE_DIMS.filter((k) => new Set(cases.filter((c) => k in c[2]).map((c) => c[2][k])).size > 1);
    const hasAny = (keys) => keys.some((k) => CASE_DIMS.includes(k));
    state = { rows: hasAny(POLICY) ? "policy" : "case", cols: hasAny(PATH) ? "path" : "target", colour: "observed", filters: {}, search: "", selected: -1 };
    document.getElementById("matrix").addEventListener("click", onCell);
    document.getElementById("named").addEventListener("click", onCell);
    buildControls();
    buildLists();
    render();
    fromHash();
    window.addEventListener("hashchange", fromHash);
    document.body.setAttribute("data-ready", "yes");
  }, (err) => {
    document.getElementById("matrix").textContent = "This browser could not read the report data (" + err + "); report.json holds the same data.";
  });
  function onCell(ev) {
    const b = ev.target.closest(".cell");
    if (b) choose(Number(b.getAttribute("data-idx")), false);
  }
})();
