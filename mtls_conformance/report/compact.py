"""The compact form of the per-probe results (report.json schema 2.x and the page's data/part-NNN.js files). Pure.

A full-profile run judges over 20,000 probes whose blocks repeat: the same expectation, the same evidence line,
the same explanation step and the same probe output come back probe after probe. The compact form stores every
distinct block once, in a pool, and each probe as one row of indices into the pools:

    cases:   [[id, suite, [feature...], dimensions], ...]      (dimensions: an index into pool.dimensions, or null
                                                               when they are the ones the case ID spells)
    pool:    {probe: [str], expected: [obj], observed: [obj], raw: [str], evidence: [obj], step: [obj], problem: [str],
              dimensions: [obj], evidence_list: [[evidence...]], explanation: [[step...]], problems: [[problem...]]}
    results: {count: N, status: "ppf...e" (one letter a probe: pass, fail, error),
              columns: {case: [...], probe: [...], expected: [...], observed: [...], raw: [...], duration_s: [...],
                        evidence_list: [...], explanation: [...], problems: [...], convergence_s: [...]}}

Each column holds one value a probe, in order. The index columns (every column but duration_s and convergence_s)
are delta-coded: the first value is an index, each next one the difference to the previous index (consecutive probes
share a case and often neighbouring blocks, so the numbers stay small).

Expected blocks are stored as arrays in the order of ``expected_keys`` ([key, how]): how is "text" (an index into
pool.text, or null), "list" (an index into pool.lists) or "value" (the value itself): keys, principals and rule lists
were the bulk of a block.
``expand`` gives back exactly the schema 1.x ``results`` list (the blocks are shared between probes, not copied).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise
from typing import Any

INDEX_COLUMNS = ("case", "probe", "expected", "observed", "raw", "evidence_list", "explanation", "problems")  # delta-coded
VALUE_COLUMNS = ("duration_s", "convergence_s")
POOLS = ("probe", "expected", "observed", "raw", "evidence", "step", "problem", "dimensions", "evidence_list", "explanation", "problems",
         "text", "lists")
LIST_OF = {"evidence_list": "evidence", "explanation": "step", "problems": "problem"}  # pooled lists -> the pool of their items
STATUSES = ("pass", "fail", "error")  # a probe's status: the verdicts of mtls_conformance.outcomes.Status
_LETTER = {s: s[0] for s in STATUSES}
_STATUS_OF = {s[0]: s for s in STATUSES}
_OBSERVED_OWN = ("duration_s", "raw")  # per-probe fields kept out of the pooled observed block


class _Pool:
    """Distinct values in first-seen order. Strings and flat values are their own key; other objects are compared by
    their canonical JSON, computed once per object (an expanded report shares its blocks between probes)."""

    def __init__(self, memo: dict[int, tuple[Any, str]] | None = None) -> None:
        self.items: list[Any] = []
        self._index: dict[Any, int] = {}
        self._seen: dict[int, tuple[Any, int]] = {}  # id(object) -> (the object, kept alive so its id stays its own; index)
        self._memo = {} if memo is None else memo  # id(object) -> (the object, its canonical JSON); may be shared by pools

    def _put(self, key: Any, value: Any) -> int:
        found = self._index.get(key)
        if found is None:
            found = self._index[key] = len(self.items)
            self.items.append(value)
        return found

    def add(self, value: Any) -> int:
        if isinstance(value, str):
            return self._put(value, value)
        seen = self._seen.get(id(value))
        if seen is not None and seen[0] is value:
            return seen[1]
        memo = self._memo.get(id(value))
        if memo is None or memo[0] is not value:
            memo = self._memo[id(value)] = (value, json.dumps(value, sort_keys=True, separators=(",", ":")))
        found = self._put(memo[1], value)
        self._seen[id(value)] = (value, found)
        return found

    def add_flat(self, key: tuple[Any, ...], value: Any) -> int:
        """A value its hashable ``key`` tuple says all about (lists of indices, blocks of scalars)."""
        found = self._index.get(key)
        return self._put(key, value) if found is None else found


def case_key(r: Mapping[str, Any]) -> str:
    return json.dumps([r["case"], r["suite"], r["features"], r["dimensions"]], sort_keys=True, separators=(",", ":"))


def case_table(results: Sequence[Mapping[str, Any]], from_id: Callable[[str], Mapping[str, str]]
               ) -> tuple[list[list[Any]], list[dict[str, str]], list[int]]:
    """The distinct cases of ``results`` in first-seen order, their distinct dimensions, and each result's case index."""
    table: list[list[Any]] = []
    dims = _Pool()
    index: dict[str, int] = {}
    quick: dict[tuple[Any, ...], int] = {}  # (case, suite, id(features), id(dimensions)): shared lists skip the JSON key
    keep: list[Any] = []  # the objects whose ids are in ``quick``
    case_of = []
    for r in results:
        qk = (r["case"], r["suite"], id(r["features"]), id(r["dimensions"]))
        found = quick.get(qk)
        if found is None:
            key = case_key(r)
            found = index.get(key)
            if found is None:
                found = index[key] = len(table)
                same = dict(r["dimensions"]) == dict(from_id(r["case"]))
                table.append([r["case"], r["suite"], list(r["features"]), None if same else dims.add(dict(r["dimensions"]))])
            quick[qk] = found
            keep.append((r["features"], r["dimensions"]))
        case_of.append(found)
    return table, dims.items, case_of


def encode(results: Sequence[Mapping[str, Any]], case_of: Sequence[int], memo: dict[int, tuple[Any, str]] | None = None) -> dict[str, Any]:
    """Pools and rows for ``results``; ``case_of[i]`` is the case index of ``results[i]`` (see :func:`case_table`).
    The dimensions pool is left empty: it belongs with the case table. Pass one ``memo`` to several calls over the
    same report (its parts) so each shared block is serialised once."""
    memo = {} if memo is None else memo
    pools = {name: _Pool(memo) for name in POOLS}
    ev_pool, step_pool, problem_pool = pools["evidence"], pools["step"], pools["problem"]
    cols: dict[str, list[Any]] = {name: [] for name in (*INDEX_COLUMNS, *VALUE_COLUMNS)}
    status = []
    for r, case in zip(results, case_of, strict=True):
        observed = r["observed"]
        block = tuple((k, v) for k, v in observed.items() if k not in _OBSERVED_OWN)
        ev = tuple(ev_pool.add(e) for e in r["evidence"])
        st = tuple(step_pool.add(s) for s in r["explanation"])
        pr = tuple(problem_pool.add(p) for p in r["problems"])
        status.append(_LETTER[r["status"]])
        cols["case"].append(case)
        cols["probe"].append(pools["probe"].add(r["probe"]))
        cols["expected"].append(pools["expected"].add(r["expected"]))
        cols["observed"].append(pools["observed"].add_flat(block, dict(block)))
        cols["raw"].append(pools["raw"].add(observed["raw"]))
        cols["duration_s"].append(observed["duration_s"])
        cols["evidence_list"].append(pools["evidence_list"].add_flat(ev, list(ev)))
        cols["explanation"].append(pools["explanation"].add_flat(st, list(st)))
        cols["problems"].append(pools["problems"].add_flat(pr, list(pr)))
        cols["convergence_s"].append(r["convergence_s"])
    for name in INDEX_COLUMNS:
        col = cols[name]
        cols[name] = col[:1] + [b - a for a, b in pairwise(col)]
    keys = _pack_expected(pools)
    return {"pool": {name: p.items for name, p in pools.items()}, "expected_keys": keys,
            "results": {"count": len(status), "status": "".join(status), "columns": cols}}


def _pack_expected(pools: Mapping[str, _Pool]) -> list[list[str]]:
    """Turn the pooled expected blocks that share the first block's keys into arrays; returns [key, how] pairs."""
    blocks = pools["expected"].items
    if not blocks:
        return []
    names = list(blocks[0])
    same = [b for b in blocks if list(b) == names]
    keys = []
    for k in names:
        values = [b[k] for b in same]
        how = ("text" if all(v is None or isinstance(v, str) for v in values)
               else "list" if all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in values) else "value")
        keys.append([k, how])

    def pack(k: str, how: str, v: Any) -> Any:
        if how == "text":
            return None if v is None else pools["text"].add(v)
        return pools["lists"].add(v) if how == "list" else v

    pools["expected"].items = [[pack(k, how, b[k]) for k, how in keys] if list(b) == names else b for b in blocks]
    return keys


def unpack_expected(keys: Sequence[Sequence[str]], pool: Mapping[str, Sequence[Any]]) -> list[Any]:
    text, lists = pool["text"], pool["lists"]

    def value(how: str, v: Any) -> Any:
        if how == "text":
            return None if v is None else text[v]
        return lists[v] if how == "list" else v

    return [{k: value(how, v) for (k, how), v in zip(keys, e, strict=True)} if isinstance(e, list) else e for e in pool["expected"]]


def compact_problems(cases: Sequence[Any], pool: Mapping[str, Any], results: Mapping[str, Any],
                     expected_keys: Sequence[Sequence[str]] = ()) -> list[str]:
    """What the schema cannot say about the rows: their length, and that every index points into its pool or table."""
    sizes = {name: len(pool.get(name, ())) for name in POOLS}
    problems: list[str] = []

    def bad(x: Any, size: int) -> bool:
        return not isinstance(x, int) or isinstance(x, bool) or not 0 <= x < size

    count, columns, status = results.get("count"), results.get("columns", {}), results.get("status", "")
    for name in (*INDEX_COLUMNS, *VALUE_COLUMNS):
        if len(columns.get(name, ())) != count:
            problems.append(f"results/columns/{name}: {len(columns.get(name, ()))} values for {count} probes")
    for name in VALUE_COLUMNS:
        if not all(x is None or (isinstance(x, int | float) and not isinstance(x, bool)) for x in columns.get(name, ())):
            problems.append(f"results/columns/{name}: every value must be a number or null")
    if len(status) != count:
        problems.append(f"results/status: {len(status)} letters for {count} probes")
    bad_letters = set(status) - set(_STATUS_OF)
    if bad_letters:
        problems.append(f"results/status: {''.join(sorted(bad_letters))!r} is not p (pass), f (fail) or e (error)")
    if problems:
        return problems
    for i, case in enumerate(cases):
        if not (isinstance(case, list) and len(case) == 4 and isinstance(case[0], str) and case[0]
                and (case[1] is None or isinstance(case[1], str)) and isinstance(case[2], list)):
            problems.append(f"cases/{i}: expected [id, suite, features, dimensions]")
        elif case[3] is not None and bad(case[3], sizes["dimensions"]):
            problems.append(f"cases/{i}/3: {case[3]!r} is not an index of pool/dimensions")
    for name, item in LIST_OF.items():
        for i, lst in enumerate(pool.get(name, ())):
            if any(bad(x, sizes[item]) for x in lst):
                problems.append(f"pool/{name}/{i}: an index is not in pool/{item}")
    for i, e in enumerate(pool.get("expected", ())):
        if not isinstance(e, list):
            continue
        if len(e) != len(expected_keys):
            problems.append(f"pool/expected/{i}: {len(e)} values for {len(expected_keys)} expected_keys")
        elif any(v is not None and bad(v, sizes["text" if how == "text" else "lists"])
                 for (_, how), v in zip(expected_keys, e, strict=True) if how in ("text", "list")):
            problems.append(f"pool/expected/{i}: an index is not in pool/text or pool/lists")
    sizes["case"] = len(cases)
    for name in INDEX_COLUMNS:
        where = "cases" if name == "case" else f"pool/{name}"
        for i, x in enumerate(undelta(columns[name])):
            if bad(x, sizes[name]):
                problems.append(f"results/columns/{name}/{i}: {x!r} is not an index of {where} (0..{sizes[name] - 1})")
                break
    return problems


def undelta(col: Sequence[Any]) -> list[Any]:
    """A delta-coded index column -> the indices (a non-integer comes back as found, for the checker to name)."""
    out: list[Any] = []
    total = 0
    for x in col:
        if not isinstance(x, int) or isinstance(x, bool):
            return [*out, x]
        total += x
        out.append(total)
    return out


def expand(cases: Sequence[Sequence[Any]], pool: Mapping[str, Sequence[Any]], results: Mapping[str, Any],
           expected_keys: Sequence[Sequence[str]], from_id: Callable[[str], dict[str, str]]) -> list[dict[str, Any]]:
    """The schema 1.x ``results`` list from the compact form."""
    probe, observed, raw, dims = pool["probe"], pool["observed"], pool["raw"], pool["dimensions"]
    evidence, step, problem = pool["evidence"], pool["step"], pool["problem"]
    evidence_list, explanation, problems = pool["evidence_list"], pool["explanation"], pool["problems"]
    expected = unpack_expected(expected_keys, pool)
    case_dims = [from_id(c[0]) if c[3] is None else dims[c[3]] for c in cases]
    cols = results["columns"]
    idx = {name: undelta(cols[name]) for name in INDEX_COLUMNS}
    out = []
    for c, p, letter, e, o, w, duration, ev, st, pr, convergence in zip(
            idx["case"], idx["probe"], results["status"], idx["expected"], idx["observed"], idx["raw"], cols["duration_s"],
            idx["evidence_list"], idx["explanation"], idx["problems"], cols["convergence_s"], strict=True):
        case_id, suite, features, _ = cases[c]
        out.append({
            "case": case_id, "probe": probe[p], "suite": suite, "features": features, "dimensions": case_dims[c],
            "status": _STATUS_OF[letter], "expected": expected[e], "observed": {**observed[o], "duration_s": duration, "raw": raw[w]},
            "evidence": [evidence[i] for i in evidence_list[ev]], "convergence_s": convergence,
            "problems": [problem[i] for i in problems[pr]], "explanation": [step[i] for i in explanation[st]],
        })
    return out
