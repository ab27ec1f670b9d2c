"""Every timeout and interval of the suite, in one overridable table.

Modelled on Gateway API conformance's ``TimeoutConfig`` (conformance/utils/config/timeout.go): one struct, each field
documented with what it bounds and why its default. Override with ``--timing FILE`` (YAML mapping of field -> value)
or programmatically with ``Timing.with_overrides({...})``. Unknown keys and bad values are input errors, not surprises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from mtls_conformance.errors import InputError


@dataclass(frozen=True)
class Timing:
    # --- convergence (after each apply) ---
    # Bounds the wait for probe outcomes to stabilise. 30 s is Gateway API conformance's MaxTimeToConsistency, the
    # documented maximum for a conformant implementation (https://gateway-api.sigs.k8s.io/docs/conformance/).
    converge_window_s: float = 30.0
    # Identical probe outcomes in a row before a result counts (Gateway API RequiredConsecutiveSuccesses, Istio echo Converge(3)).
    consecutive_successes: int = 3
    # Bounds the wait for every affected proxy's config dump to show the applied policy. istiod debounces pushes for up to
    # PILOT_DEBOUNCE_MAX = 10 s (pilot/pkg/features/tuning.go); 60 s leaves room for a push to many proxies on kind.
    config_propagation_timeout_s: float = 60.0
    # Pause between two polls of a proxy's config dump or a probe round after a miss (Gateway API DefaultPollInterval is 100 ms;
    # a config dump exec costs more, so poll a little slower).
    poll_interval_s: float = 0.5

    # --- probes ---
    # curl --max-time of one probe: long enough for a TLS handshake through two sidecars, short enough that a blackholed
    # connection (curl 28) does not stall a phase.
    probe_timeout_s: float = 5.0
    # How long a TCP probe reads the echo: curl's telnet mode only ends when the server closes, so this bounds every TCP
    # probe; 2 s covers the handshake through two sidecars and the echo.
    tcp_echo_wait_s: float = 2.0
    # Bounds one exec call into a pod (a batch of probes, a config dump, a log read).
    exec_timeout_s: float = 60.0
    # How many times an INCONCLUSIVE probe (exec transport error, empty output) is retried. Only these are retried, never a
    # verdict (cilium connectivity test's rule).
    inconclusive_retries: int = 2
    # Client pods probed at the same time (one exec per pod, in parallel threads).
    probe_parallelism: int = 8

    # --- rollouts and install ---
    # Bounds the wait for the Deployments of a phase to be available (image pulls on a fresh kind node dominate).
    rollout_timeout_s: float = 300.0
    # Bounds `helm upgrade --install --wait` of one Istio chart and the wait for istiod to be ready.
    install_timeout_s: float = 300.0
    # Bounds the wait for istiod to serve a changed meshConfig (it watches the `istio` ConfigMap; no restart needed).
    mesh_config_timeout_s: float = 60.0
    # Bounds `kind create cluster --wait`: the control plane must be Ready (kind's own default is 0 = no wait).
    cluster_create_timeout_s: float = 300.0
    # Bounds the deletion of everything labeled with the run ID (namespaces finalize last).
    cleanup_timeout_s: float = 180.0

    # --- evidence ---
    # How long a packet capture listens around its probe (the probe itself is bounded by probe_timeout_s).
    capture_window_s: float = 10.0
    # Bounds the wait for tcpdump in the ephemeral debug container to start listening.
    capture_start_timeout_s: float = 30.0

    # --- tools ---
    # Bounds one download (kind, kubectl, helm, an Istio release) on a slow connection.
    download_timeout_s: float = 600.0
    # Bounds `docker version` and the cluster reachability check used for the skip decision: the acceptance check wants a
    # reason within a few seconds.
    availability_timeout_s: float = 3.0

    def with_overrides(self, overrides: Mapping[str, Any], where: str = "timing") -> Timing:
        """A copy with ``overrides`` applied; unknown keys and non-positive values are input errors."""
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in known:
                raise InputError(f"{where}: {key}", "unknown timing key", "use one of: " + ", ".join(sorted(known)))
            changes[key] = _coerce(key, value, int if known[key].type == "int" else float, where)
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, float | int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _coerce(key: str, value: Any, kind: type, where: str) -> float | int:
    expected = "a positive whole number" if kind is int else "a positive number of seconds"
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InputError(f"{where}: {key}", f"{value!r} is not {expected}", f"set {key} to {expected}")
    if kind is int:
        if float(value) != int(value):
            raise InputError(f"{where}: {key}", f"{value!r} is not {expected}", f"set {key} to {expected}")
        return int(value)
    return float(value)


def load_timing(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Timing:
    """The default table, then the YAML file at ``path`` (if any), then ``overrides``."""
    timing = Timing()
    if path is not None:
        where = str(path)
        try:
            raw = yaml.safe_load(Path(path).read_text())
        except FileNotFoundError:
            raise InputError(where, "timing file not found", "pass an existing YAML file to --timing") from None
        except IsADirectoryError:
            raise InputError(where, "is a directory, not a timing file", "pass a YAML file to --timing") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(where, f"cannot read timing file ({exc.__class__.__name__})", "pass a readable YAML text file") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            raise InputError(where, f"not valid YAML{at}", "write a mapping such as 'converge_window_s: 45'") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise InputError(where, "a timing file must be a mapping of key: seconds", "write e.g. 'converge_window_s: 45'")
        timing = timing.with_overrides(raw, where)
    if overrides:
        timing = timing.with_overrides(overrides)
    return timing
