"""Shape checks for DestinationRule traffic-policy fields that cannot change an mTLS outcome
(connectionPool, outlierDetection, loadBalancer). The API server rejects malformed values, so the
scenario could never be applied: the loader rejects them too, one field at a time.

Field names, types and bounds follow the DestinationRule reference:
https://istio.io/latest/docs/reference/config/networking/destination-rule/
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from mtls_conformance.errors import InputError

ErrorFactory = Callable[[str, str, str], InputError]
Check = Callable[[ErrorFactory, str, Any], None]

_DURATION = re.compile(r"^(?:(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(err: ErrorFactory, field: str, value: Any) -> None:
    if not isinstance(value, str) or not _DURATION.match(value):
        raise err(field, f"{value!r} is not a duration", "write a duration such as '300s', '1.5s' or '10ms'")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", value))
    if seconds < 1e-3:
        raise err(field, f"{value!r} is shorter than 1ms", "use a duration of at least 1ms")


def _integer(low: int, high: int) -> Check:
    def check(err: ErrorFactory, field: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise err(field, f"{value!r} is not an integer from {low} to {high}", "use a whole number in that range")
    return check


def _number(low: float, high: float | None = None) -> Check:
    def check(err: ErrorFactory, field: str, value: Any) -> None:
        ok = not isinstance(value, bool) and isinstance(value, int | float) and value >= low and (high is None or value <= high)
        if not ok:
            bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise err(field, f"{value!r} is not a number {bound}", f"use a number {bound}")
    return check


def _boolean(err: ErrorFactory, field: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise err(field, f"{value!r} is not true or false", "write true or false")


def _string(err: ErrorFactory, field: str, value: Any) -> None:
    if not isinstance(value, str):
        raise err(field, f"{value!r} is not a string", "quote the value")


def _enum(*allowed: str) -> Check:
    def check(err: ErrorFactory, field: str, value: Any) -> None:
        if value not in allowed:
            raise err(field, f"{value!r} is not supported", "use one of " + ", ".join(allowed))
    return check


def _list(err: ErrorFactory, field: str, value: Any) -> None:
    if not isinstance(value, list):
        raise err(field, "must be a list", "write a YAML list")


def _object(fields: Mapping[str, Check | dict[str, Any]], required: tuple[str, ...] = ()) -> Check:
    def check(err: ErrorFactory, field: str, value: Any) -> None:
        if not isinstance(value, Mapping):
            raise err(field, "must be a mapping", "see the DestinationRule reference")
        for key in value:
            if key not in fields:
                raise err(f"{field}.{key}", "unknown field", "use only: " + ", ".join(fields))
        for key in required:
            if key not in value:
                raise err(f"{field}.{key}", "is required", f"set {key}")
        for key, sub in value.items():
            rule = fields[key]
            (rule if callable(rule) else _object(rule))(err, f"{field}.{key}", sub)
    return check


INT32 = _integer(-(2**31), 2**31 - 1)
UINT32 = _integer(0, 2**32 - 1)

CONNECTION_POOL = _object({
    "tcp": {"maxConnections": INT32, "connectTimeout": _duration, "idleTimeout": _string, "maxConnectionDuration": _duration,
            "tcpKeepalive": {"probes": UINT32, "time": _duration, "interval": _duration}},
    "http": {"http1MaxPendingRequests": INT32, "http2MaxRequests": INT32, "maxRequestsPerConnection": INT32, "maxRetries": INT32,
             "idleTimeout": _duration, "h2UpgradePolicy": _enum("DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"), "useClientProtocol": _boolean,
             "maxConcurrentStreams": INT32, "http2KeepAlive": {"time": _duration, "interval": _duration, "timeout": _duration}},
})

OUTLIER_DETECTION = _object({
    "consecutiveErrors": INT32, "consecutive5xxErrors": UINT32, "consecutiveGatewayErrors": UINT32,
    "consecutiveLocalOriginFailures": UINT32, "splitExternalLocalOriginErrors": _boolean, "interval": _duration,
    "baseEjectionTime": _duration, "maxEjectionPercent": INT32, "minHealthPercent": INT32,
})

LOAD_BALANCER = _object({
    # PASSTHROUGH is refused by the caller: it changes how auto mTLS infers the Service's mode.
    "simple": _enum("UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"),
    "consistentHash": _object({
        "httpHeaderName": _string, "httpCookie": _object({"name": _string, "path": _string, "ttl": _duration, "attributes": _list}, ("name",)),
        "useSourceIp": _boolean, "httpQueryParameterName": _string, "ringHash": {"minimumRingSize": UINT32},
        "maglev": {"tableSize": UINT32}, "minimumRingSize": UINT32,
    }),
    "localityLbSetting": {"distribute": _list, "failover": _list, "failoverPriority": _list, "enabled": _boolean},
    "warmupDurationSecs": _duration,
    "warmup": _object({"duration": _duration, "minimumPercent": _number(0, 100), "aggression": _number(0)}, ("duration",)),
})

CHECKS: dict[str, Check] = {"connectionPool": CONNECTION_POOL, "outlierDetection": OUTLIER_DETECTION, "loadBalancer": LOAD_BALANCER}
