"""The waits, as pure logic over an injectable clock (no sleeps): tested offline with a fake clock.

Two stages after every apply (anchors §D): (1) poll each affected proxy's config dump until a predicate shows the applied
policy (e.g. the server's inbound chains for the target port are TLS-only under STRICT), then (2) probe until each probe's
outcome is identical N times in a row and agrees with the engine, within a bounded window (Gateway API's
AwaitConvergence: 3 in a row, 30 s). A probe that never agrees is reported with its last outcomes, not retried forever.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from mtls_conformance.executor.errors import WaitTimeout


class Clock(Protocol):
    def now(self) -> float: ...
    def wait(self, seconds: float) -> None: ...


class RealClock:
    """Monotonic time; waits on an Event so an interrupt (``stop``) ends every wait at once."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()

    def now(self) -> float:
        return time.monotonic()

    def wait(self, seconds: float) -> None:
        if self.stop.wait(max(0.0, seconds)):
            raise KeyboardInterrupt("the run was interrupted")


@dataclass(frozen=True)
class ProxyCheck:
    """One predicate on one proxy's config dump: ``holds(dump_text)`` -> (holds?, human-readable excerpt)."""

    proxy: str  # namespace/pod
    describe: str  # e.g. "inbound port 8080 enforces STRICT"
    holds: Callable[[str], tuple[bool, str]]

    @property
    def name(self) -> str:
        return f"{self.proxy}: {self.describe}"


@dataclass(frozen=True)
class ConfigConvergence:
    seconds: float
    rounds: int
    excerpts: Mapping[str, str]  # check name -> the excerpt that satisfied it


def wait_for_config(checks: Sequence[ProxyCheck], fetch: Callable[[str], str], *, timeout_s: float, interval_s: float,
                    clock: Clock, proxy_status: Callable[[], str] | None = None, parallelism: int = 8) -> ConfigConvergence:
    """Poll until every check holds, fetching each pending proxy's dump once per round (in parallel across proxies).

    On timeout the error carries each failing check's last excerpt and the proxy status.
    """
    start = clock.now()
    pending = {c.name: c for c in checks}
    satisfied: dict[str, str] = {}
    last: dict[str, str] = {}
    rounds = 0

    def fetch_safely(proxy: str) -> tuple[str | None, str]:
        try:
            return fetch(proxy), ""
        except Exception as exc:  # (a failed fetch is a miss, retried until the deadline)
            return None, f"could not read the config dump: {exc}"

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        while True:
            rounds += 1
            proxies = sorted({c.proxy for c in pending.values()})
            dumps = dict(zip(proxies, pool.map(fetch_safely, proxies), strict=True))
            for name, check in list(pending.items()):
                text, error = dumps[check.proxy]
                if text is None:
                    ok, excerpt = False, error
                else:
                    try:
                        ok, excerpt = check.holds(text)
                    except Exception as exc:  # (e.g. a truncated dump: poll again)
                        ok, excerpt = False, f"unreadable config dump: {exc}"
                last[name] = excerpt
                if ok:
                    satisfied[name] = excerpt
                    del pending[name]
            if not pending:
                return ConfigConvergence(clock.now() - start, rounds, satisfied)
            if clock.now() - start >= timeout_s:
                lines = [f"{len(pending)} of {len(checks)} proxy checks never held:"]
                for name in sorted(pending):
                    lines.append(f"- {name}\n  last config dump excerpt: {last.get(name, '(none)')}")
                if proxy_status is not None:
                    try:
                        lines.append("proxy status:\n" + proxy_status())
                    except Exception as exc:
                        lines.append(f"proxy status unavailable: {exc}")
                raise WaitTimeout("proxy config to show the applied policy", clock.now() - start, "\n".join(lines))
            clock.wait(interval_s)


@dataclass
class ProbeHistory:
    outcomes: list[str] = field(default_factory=list)

    def streak(self) -> int:
        """How many of the latest outcomes are identical."""
        if not self.outcomes:
            return 0
        n = 1
        for previous in reversed(self.outcomes[:-1]):
            if previous != self.outcomes[-1]:
                break
            n += 1
        return n


@dataclass(frozen=True)
class Stability:
    seconds: float
    rounds: int
    converged: tuple[str, ...]  # probes that agreed with the expectation N times in a row
    unsettled: Mapping[str, tuple[str, ...]]  # probe -> its outcomes, for probes that never did
    stable: Mapping[str, bool]  # probe -> were its last N outcomes identical (a stable disagreement is a real failure)

    @property
    def all_converged(self) -> bool:
        return not self.unsettled


def await_consistent(probe_round: Callable[[Sequence[str]], Mapping[str, str]], agrees: Callable[[str, str], bool],
                     probes: Sequence[str], *, required: int, window_s: float, interval_s: float, clock: Clock) -> Stability:
    """Probe until every probe's outcome agrees with the expectation ``required`` times in a row, within ``window_s``.

    ``probe_round(ids)`` runs one round of the given probes and returns probe id -> outcome signature ("inconclusive"
    never counts). Converged probes are not probed again. Rounds with a miss wait ``interval_s``; a round where
    everything agreed goes again at once (Gateway API: successes have no delay).
    """
    start = clock.now()
    histories = {p: ProbeHistory() for p in probes}
    agreeing = dict.fromkeys(probes, 0)
    converged: list[str] = []
    rounds = 0
    while True:
        active = [p for p in probes if p not in converged]
        if not active:
            break
        rounds += 1
        results = probe_round(active)
        missed = False
        for p in active:
            outcome = results.get(p, "inconclusive")
            histories[p].outcomes.append(outcome)
            if outcome != "inconclusive" and agrees(p, outcome):
                agreeing[p] += 1
            else:
                agreeing[p] = 0
                missed = True
            if agreeing[p] >= required:
                converged.append(p)
        if len(converged) == len(probes) or clock.now() - start >= window_s:
            break
        if missed:
            clock.wait(interval_s)
    unsettled = {p: tuple(h.outcomes) for p, h in histories.items() if p not in converged}
    stable = {p: h.streak() >= required and h.outcomes[-1] != "inconclusive" for p, h in histories.items()}
    return Stability(clock.now() - start, rounds, tuple(converged), unsettled, stable)


def poll_until(check: Callable[[], tuple[bool, str]], *, what: str, timeout_s: float, interval_s: float, clock: Clock) -> float:
    """Poll ``check`` (-> done, detail) until done; returns the seconds waited; WaitTimeout with the last detail."""
    start = clock.now()
    detail = ""
    while True:
        done, detail = check()
        if done:
            return clock.now() - start
        if clock.now() - start >= timeout_s:
            raise WaitTimeout(what, clock.now() - start, detail)
        clock.wait(interval_s)
