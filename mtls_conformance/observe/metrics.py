"""Prometheus text format (a sidecar's ``/stats/prometheus``) and the mTLS evidence in ``istio_requests_total``.

Label ``connection_security_policy`` (https://istio.io/latest/docs/reference/config/metrics/): ``mutual_tls`` when
the destination sidecar reports an mTLS request; a sidecar reports ``none`` for plaintext (istio/proxy
``istio_stats``; the docs page omits it); the source reporter always says ``unknown``, as does ztunnel for
plaintext. So only ``reporter="destination"`` series can tell, and ``unknown`` never counts as either.
Format: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mtls_conformance.observe.model import Evidence

REQUESTS_TOTAL = "istio_requests_total"
_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+(?P<ts>-?\d+))?\s*$")
_LABEL = re.compile(r'\s*(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*(?:,|$)')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


class MetricsSyntaxError(ValueError):
    """A line is not valid Prometheus text format."""


@dataclass(frozen=True)
class MetricSample:
    name: str
    labels: tuple[tuple[str, str], ...]  # sorted (key, value) pairs: hashable series identity
    value: float

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def matches(self, selector: Mapping[str, str]) -> bool:
        mine = self.label_map
        return all(mine.get(k) == v for k, v in selector.items())


def _value(text: str) -> float:
    lowered = text.lower()
    if lowered in ("nan",):
        return math.nan
    if lowered in ("+inf", "inf"):
        return math.inf
    if lowered == "-inf":
        return -math.inf
    return float(text)


def _labels(text: str, line_no: int) -> tuple[tuple[str, str], ...]:
    pairs, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _LABEL.match(text, pos)
        if not match:
            raise MetricsSyntaxError(f"line {line_no}: bad labels near {text[pos:pos + 40]!r}")
        value = re.sub(r'\\[\\"n]', lambda m: _UNESCAPE[m.group(0)], match.group("value"))
        pairs.append((match.group("key"), value))
        pos = match.end()
    return tuple(sorted(pairs))


def parse_prometheus(text: str) -> tuple[MetricSample, ...]:
    samples = []
    for line_no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise MetricsSyntaxError(f"line {line_no}: not a sample: {line[:80]!r}")
        try:
            value = _value(match.group("value"))
        except ValueError as exc:
            raise MetricsSyntaxError(f"line {line_no}: bad value {match.group('value')!r}") from exc
        samples.append(MetricSample(match.group("name"), _labels(match.group("labels") or "", line_no), value))
    return tuple(samples)


def metric_types(text: str) -> dict[str, str]:
    """``# TYPE name kind`` declarations."""
    return {parts[2]: parts[3] for parts in (line.split() for line in text.splitlines()) if len(parts) == 4 and parts[:2] == ["#", "TYPE"]}


def select(samples: Sequence[MetricSample], name: str, labels: Mapping[str, str] = {}) -> tuple[MetricSample, ...]:
    return tuple(s for s in samples if s.name == name and s.matches(labels))


def counter_delta(before: Sequence[MetricSample], after: Sequence[MetricSample], name: str, labels: Mapping[str, str] = {}) -> float:
    """Increase of the matching series between two scrapes; a series that went down was reset and counts from 0."""
    old = {s.labels: s.value for s in select(before, name, labels)}
    delta = 0.0
    for s in select(after, name, labels):
        prev = old.get(s.labels, 0.0)
        delta += s.value - prev if s.value >= prev else s.value
    return delta


def requests_delta(before: Sequence[MetricSample], after: Sequence[MetricSample], labels: Mapping[str, str]) -> float:
    """New ``istio_requests_total`` requests matching ``labels`` between the two scrapes."""
    return counter_delta(before, after, REQUESTS_TOTAL, labels)


def metrics_evidence(before: Sequence[MetricSample], after: Sequence[MetricSample], selector: Mapping[str, str] = {}) -> Evidence:
    """What the destination sidecar's counters say about the requests made between two scrapes.

    ``selector`` narrows to the probe's series (e.g. source_workload, destination_workload, response_code).
    """
    base = {**selector, "reporter": "destination"}
    mtls = requests_delta(before, after, {**base, "connection_security_policy": "mutual_tls"})
    plain = requests_delta(before, after, {**base, "connection_security_policy": "none"})
    unknown = requests_delta(before, after, {**base, "connection_security_policy": "unknown"})
    counts = {"mutual_tls": f"{mtls:g}", "none": f"{plain:g}", "unknown": f"{unknown:g}"}
    where = ",".join(f'{k}="{v}"' for k, v in sorted(base.items()))
    if mtls and not plain:
        says: bool | None = True
        detail = f"{REQUESTS_TOTAL}{{{where}}} +{mtls:g} with connection_security_policy=mutual_tls"
    elif plain and not mtls:
        says = False
        detail = f"{REQUESTS_TOTAL}{{{where}}} +{plain:g} with connection_security_policy=none"
    elif plain and mtls:
        says = None
        detail = f"both mutual_tls (+{mtls:g}) and none (+{plain:g}) requests were counted: cannot attribute the probe"
    else:
        says = None
        detail = f"no destination-reported request was counted ({'only unknown' if unknown else 'nothing'}): metrics cannot tell"
    return Evidence(source="metrics", says_mtls=says, detail=detail, extra=counts)
