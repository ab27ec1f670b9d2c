"""The waits with a fake clock: config propagation polls, N-in-a-row probe stability, bounded windows, no sleeps."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import pytest
from test_executor_fakes import FakeClock

from mtls_conformance.executor.converge import ProxyCheck, RealClock, await_consistent, poll_until, wait_for_config
from mtls_conformance.executor.errors import WaitTimeout


def test_config_wait_polls_until_every_check_holds_fetching_each_proxy_once_per_round() -> None:
    clock = FakeClock()
    fetched: list[str] = []
    dumps = {"foo/httpbin": iter(["PERMISSIVE", "PERMISSIVE", "STRICT"]), "foo/curl": iter(["mtls", "mtls", "mtls"])}

    def fetch(proxy: str) -> str:
        fetched.append(proxy)
        return next(dumps[proxy])

    checks = [
        ProxyCheck("foo/httpbin", "port 8080 STRICT", lambda d: (d == "STRICT", f"enforces {d}")),
        ProxyCheck("foo/httpbin", "port 8080 not DISABLE", lambda d: (d != "DISABLE", f"enforces {d}")),
        ProxyCheck("foo/curl", "cluster sends mTLS", lambda d: (d == "mtls", d)),
    ]
    result = wait_for_config(checks, fetch, timeout_s=60, interval_s=0.5, clock=clock)
    assert result.rounds == 3 and result.seconds == pytest.approx(1.0) and clock.waits == [0.5, 0.5]
    assert fetched.count("foo/httpbin") == 3 and fetched.count("foo/curl") == 1  # satisfied proxies are not fetched again
    assert result.excerpts["foo/httpbin: port 8080 STRICT"] == "enforces STRICT"


def test_config_wait_timeout_carries_last_excerpt_and_proxy_status() -> None:
    clock = FakeClock()
    checks = [ProxyCheck("foo/httpbin-7d9", "inbound port 8080 enforces STRICT", lambda d: (False, "virtualInbound port 8080: enforces PERMISSIVE"))]
    with pytest.raises(WaitTimeout) as err:
        wait_for_config(checks, lambda p: "{}", timeout_s=10, interval_s=1, clock=clock,
                        proxy_status=lambda: "NAME  CDS  LDS\nhttpbin-7d9.foo  SYNCED  STALE")
    text = str(err.value)
    assert "timed out after 10.0s waiting for proxy config" in text
    assert "foo/httpbin-7d9: inbound port 8080 enforces STRICT" in text and "enforces PERMISSIVE" in text
    assert "STALE" in text and 10 <= err.value.waited_s < 11


def test_config_wait_treats_fetch_errors_as_misses() -> None:
    clock = FakeClock()
    answers = iter([RuntimeError("exec stream closed"), "ok"])

    def fetch(proxy: str) -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    result = wait_for_config([ProxyCheck("a/b", "x", lambda d: (d == "ok", d))], fetch, timeout_s=5, interval_s=1, clock=clock)
    assert result.rounds == 2


def scripted(outcomes: Mapping[str, Sequence[str]], seen: list[tuple[str, ...]]):  # type: ignore[no-untyped-def]
    iters = {k: iter(v) for k, v in outcomes.items()}

    def probe_round(ids: Sequence[str]) -> dict[str, str]:
        seen.append(tuple(ids))
        return {i: next(iters[i]) for i in ids}

    return probe_round


def test_probes_converge_after_n_identical_agreeing_outcomes() -> None:
    clock, seen = FakeClock(), []
    want = {"a": "ok/mtls", "b": "reset"}
    rounds = scripted({"a": ["ok/plaintext", "ok/mtls", "ok/mtls", "ok/mtls"], "b": ["reset"] * 4}, seen)
    result = await_consistent(rounds, lambda p, o: want[p] == o, ["a", "b"], required=3, window_s=30, interval_s=0.5, clock=clock)
    assert result.all_converged and set(result.converged) == {"a", "b"}
    assert seen == [("a", "b"), ("a", "b"), ("a", "b"), ("a",)]  # b converged after round 3 and is not probed again
    assert clock.waits == [0.5]  # only the round with a miss waited; agreeing rounds go again at once
    assert result.stable == {"a": True, "b": True}


def test_a_stable_disagreement_ends_at_the_window_and_is_reported_stable() -> None:
    clock, seen = FakeClock(), []
    rounds = scripted({"a": ["ok/plaintext"] * 100}, seen)
    result = await_consistent(rounds, lambda p, o: o == "ok/mtls", ["a"], required=3, window_s=30, interval_s=1, clock=clock)
    assert not result.all_converged and result.stable["a"] is True
    assert 30 <= result.seconds < 31 and len(result.unsettled["a"]) == result.rounds == 31


def test_flapping_probe_is_unsettled_and_unstable() -> None:
    clock = FakeClock()
    rounds = scripted({"a": ["ok/mtls", "reset"] * 50}, [])
    result = await_consistent(rounds, lambda p, o: o == "ok/mtls", ["a"], required=3, window_s=10, interval_s=1, clock=clock)
    assert result.unsettled["a"][:4] == ("ok/mtls", "reset", "ok/mtls", "reset") and result.stable["a"] is False


def test_inconclusive_never_counts_toward_agreement() -> None:
    clock = FakeClock()
    rounds = scripted({"a": ["ok", "ok", "inconclusive", "ok", "ok", "ok"]}, [])
    result = await_consistent(rounds, lambda p, o: True, ["a"], required=3, window_s=30, interval_s=1, clock=clock)
    assert result.all_converged and result.rounds == 6


def test_poll_until() -> None:
    clock = FakeClock()
    answers = iter([(False, "not yet"), (False, "not yet"), (True, "done")])
    assert poll_until(lambda: next(answers), what="x", timeout_s=10, interval_s=2, clock=clock) == 4
    with pytest.raises(WaitTimeout, match=r"waiting for istiod.*\nstill 0/1"):
        poll_until(lambda: (False, "still 0/1"), what="istiod", timeout_s=3, interval_s=1, clock=clock)


def test_real_clock_wait_ends_at_once_when_the_run_is_interrupted() -> None:
    stop = threading.Event()
    clock = RealClock(stop)
    clock.wait(0.0)
    stop.set()
    before = clock.now()
    with pytest.raises(KeyboardInterrupt):
        clock.wait(3600)
    assert clock.now() - before < 1
