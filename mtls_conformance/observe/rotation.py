"""Certificate rotation analysis (suite 6), pure: observed workload certificates and request results in, findings out.

Facts used (reference §5):
* istio-agent renews at ``ExpireTime - g * (ExpireTime - CreatedTime)`` with ``g = SECRET_GRACE_PERIOD_RATIO``
  (default 0.5) ``+- SECRET_GRACE_PERIOD_RATIO_JITTER`` (default 0.01); CreatedTime is when the agent got the
  certificate (security/pkg/nodeagent/cache/secretcache.go, ``rotateTime``;
  https://istio.io/latest/docs/reference/commands/pilot-agent/). So a renewal happens when ``1 - g`` of the
  certificate's life since issue has passed.
* Since 1.11 istiod back-dates NotBefore by 2 minutes (``ClockSkewGracePeriod``,
  security/pkg/pki/util/generate_cert.go), so the issue time is NotBefore + 2 min and
  NotAfter - NotBefore = TTL + 2 min.
* New certificates must chain to the root in the ``istio-ca-root-cert`` ConfigMap and keep the SPIFFE ID
  ``spiffe://<trust domain>/ns/<ns>/sa/<sa>``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from mtls_conformance.observe.secrets import SecretItem, parse_pem_chain


@dataclass(frozen=True)
class CertSample:
    """One look at a workload's certificate."""

    observed_at: dt.datetime
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    spiffe_id: str | None
    chain_pems: tuple[bytes, ...]  # leaf first, then intermediates (the root may follow)

    @staticmethod
    def from_secret(item: SecretItem, observed_at: dt.datetime) -> CertSample:
        leaf = item.first
        if leaf is None:
            raise ValueError(f"secret {item.name} carries no certificate")
        return CertSample(observed_at, leaf.serial, leaf.not_before, leaf.not_after, leaf.spiffe_id, tuple(c.pem for c in item.chain))

    @staticmethod
    def from_pem(chain_pem: bytes, observed_at: dt.datetime) -> CertSample:
        chain = parse_pem_chain(chain_pem)
        if not chain:
            raise ValueError("no certificate in the PEM data")
        leaf = chain[0]
        return CertSample(observed_at, leaf.serial, leaf.not_before, leaf.not_after, leaf.spiffe_id, tuple(c.pem for c in chain))


@dataclass(frozen=True)
class GracePolicy:
    ratio: float = 0.5  # SECRET_GRACE_PERIOD_RATIO
    jitter: float = 0.01  # SECRET_GRACE_PERIOD_RATIO_JITTER
    backdate: dt.timedelta = dt.timedelta(minutes=2)  # istiod's NotBefore back-dating
    tolerance: dt.timedelta = dt.timedelta(seconds=10)  # CSR round trip, second-resolution timestamps

    def window(self, life: dt.timedelta) -> tuple[float, float]:
        """Allowed fraction of the old certificate's life (since issue) at which the renewal happens."""
        slack = self.tolerance / life if life > dt.timedelta(0) else 0.0
        return max(0.0, 1 - self.ratio - self.jitter - slack), min(1.0, 1 - self.ratio + self.jitter + slack)


@dataclass(frozen=True)
class Rotation:
    old: CertSample
    new: CertSample
    last_old_seen: dt.datetime
    first_new_seen: dt.datetime
    policy: GracePolicy

    @property
    def old_issued(self) -> dt.datetime:
        return self.old.not_before + self.policy.backdate

    @property
    def renewed_at(self) -> dt.datetime:
        """When the new certificate was issued (its NotBefore plus the back-dating)."""
        return self.new.not_before + self.policy.backdate

    @property
    def old_life(self) -> dt.timedelta:
        return self.old.not_after - self.old_issued

    @property
    def fraction(self) -> float:
        """Share of the old certificate's life (since issue) that had passed at renewal."""
        return (self.renewed_at - self.old_issued) / self.old_life if self.old_life > dt.timedelta(0) else float("nan")

    def describe(self) -> str:
        return (f"serial {self.old.serial:x} -> {self.new.serial:x} at {self.renewed_at:%H:%M:%S} "
                f"({self.fraction:.1%} of {self.old_life}; seen between {self.last_old_seen:%H:%M:%S} and {self.first_new_seen:%H:%M:%S})")


def detect_rotations(samples: Sequence[CertSample], policy: GracePolicy = GracePolicy()) -> tuple[Rotation, ...]:
    """Each change of serial number between consecutive samples (ordered by observation time)."""
    ordered = sorted(samples, key=lambda s: s.observed_at)
    rotations = []
    for prev, cur in itertools.pairwise(ordered):
        if cur.serial != prev.serial:
            rotations.append(Rotation(prev, cur, prev.observed_at, cur.observed_at, policy))
    return tuple(rotations)


def _load_all(pems: Sequence[bytes] | bytes) -> list[x509.Certificate]:
    data = pems if isinstance(pems, bytes) else b"".join(pems)
    return [x509.load_pem_x509_certificate(c.pem) for c in parse_pem_chain(data)]


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def chains_to_root(chain_pems: Sequence[bytes], root_pem: bytes, at: dt.datetime | None = None) -> tuple[bool, str]:
    """Whether leaf -> intermediates verifies, signature by signature, up to one of the roots in ``root_pem``."""
    chain = _load_all(chain_pems)
    roots = _load_all(root_pem)
    if not chain:
        return False, "empty certificate chain"
    if not roots:
        return False, "no root certificate"
    root_fps = {r.fingerprint(hashes.SHA256()) for r in roots}
    # drop a trailing copy of the root: Istio's chains often end with it
    while len(chain) > 1 and chain[-1].fingerprint(hashes.SHA256()) in root_fps:
        chain.pop()
    for child, parent in itertools.pairwise(chain):
        if not _signed_by(child, parent):
            return False, f"{child.subject.rfc4514_string() or '(empty subject)'} is not signed by {parent.subject.rfc4514_string()}"
    top = chain[-1]
    if not any(_signed_by(top, r) for r in roots):
        return False, f"the chain ends at issuer '{top.issuer.rfc4514_string()}', which is not the given root"
    if at is not None:
        for cert in chain:
            if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
                return False, f"certificate serial {cert.serial_number:x} is not valid at {at.isoformat()}"
    return True, f"verified {len(chain)} certificate(s) up to root '{roots[0].subject.rfc4514_string()}'"


# ---------------------------------------------------------------- traffic


@dataclass(frozen=True)
class RequestResult:
    at: dt.datetime
    ok: bool


@dataclass(frozen=True)
class TrafficReport:
    total: int
    failures: int
    longest_gap: dt.timedelta  # longest time between two consecutive successful requests
    gap_from: dt.datetime | None = None
    gap_to: dt.datetime | None = None

    def describe(self) -> str:
        where = f" ({self.gap_from:%H:%M:%S}-{self.gap_to:%H:%M:%S})" if self.gap_from and self.gap_to else ""
        return f"{self.total} requests, {self.failures} failed, longest gap between successes {self.longest_gap.total_seconds():.1f}s{where}"


def traffic_report(results: Sequence[RequestResult]) -> TrafficReport:
    ordered = sorted(results, key=lambda r: r.at)
    successes = [r.at for r in ordered if r.ok]
    longest, start, end = dt.timedelta(0), None, None
    for a, b in itertools.pairwise(successes):
        if b - a > longest:
            longest, start, end = b - a, a, b
    if ordered and not successes:
        longest, start, end = ordered[-1].at - ordered[0].at, ordered[0].at, ordered[-1].at
    return TrafficReport(len(ordered), sum(1 for r in ordered if not r.ok), longest, start, end)


# ---------------------------------------------------------------- the whole analysis


@dataclass(frozen=True)
class RotationReport:
    rotations: tuple[Rotation, ...]
    traffic: TrafficReport | None
    problems: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        lines = [f"{len(self.rotations)} rotation(s)"] + [f"  {r.describe()}" for r in self.rotations]
        if self.traffic:
            lines.append("traffic: " + self.traffic.describe())
        lines += [f"note: {n}" for n in self.notes] + [f"problem: {p}" for p in self.problems]
        return "\n".join(lines)


def check_rotation(rotation: Rotation, root_pem: bytes, expected_spiffe: str | None = None) -> list[str]:
    problems = []
    old, new = rotation.old, rotation.new
    if rotation.first_new_seen > old.not_after:
        problems.append(f"serial {old.serial:x} expired at {old.not_after.isoformat()} before the new certificate was seen")
    ok, why = chains_to_root(new.chain_pems, root_pem)
    if not ok:
        problems.append(f"new certificate {new.serial:x} does not chain to the root: {why}")
    if new.spiffe_id != old.spiffe_id:
        problems.append(f"SPIFFE ID changed on rotation: {old.spiffe_id} -> {new.spiffe_id}")
    if expected_spiffe is not None and new.spiffe_id != expected_spiffe:
        problems.append(f"SPIFFE ID {new.spiffe_id} != expected {expected_spiffe}")
    low, high = rotation.policy.window(rotation.old_life)
    if not low <= rotation.fraction <= high:
        problems.append(f"renewed at {rotation.fraction:.1%} of the certificate's life, expected {low:.1%}-{high:.1%} "
                        f"(grace ratio {rotation.policy.ratio} +- {rotation.policy.jitter})")
    slack = rotation.policy.tolerance
    if not rotation.last_old_seen - slack <= rotation.renewed_at <= rotation.first_new_seen + slack:
        problems.append(f"issue time {rotation.renewed_at.isoformat()} lies outside the observation window "
                        f"{rotation.last_old_seen.isoformat()}..{rotation.first_new_seen.isoformat()} (clock skew or back-dating differs)")
    return problems


def analyse_rotation(samples: Sequence[CertSample], root_pem: bytes, requests: Sequence[RequestResult] = (), *,
                     policy: GracePolicy = GracePolicy(), min_rotations: int = 2, expected_spiffe: str | None = None) -> RotationReport:
    """Every check of suite 6 over one workload's samples and the traffic sent across them."""
    problems: list[str] = []
    if not samples:
        return RotationReport((), traffic_report(requests) if requests else None, ("no certificate was observed",))
    first = min(samples, key=lambda s: s.observed_at)
    ok, why = chains_to_root(first.chain_pems, root_pem)
    if not ok:
        problems.append(f"initial certificate {first.serial:x} does not chain to the root: {why}")
    if expected_spiffe is not None and first.spiffe_id != expected_spiffe:
        problems.append(f"initial SPIFFE ID {first.spiffe_id} != expected {expected_spiffe}")
    rotations = detect_rotations(samples, policy)
    for rotation in rotations:
        problems += check_rotation(rotation, root_pem, expected_spiffe)
    if len(rotations) < min_rotations:
        problems.append(f"observed {len(rotations)} rotation(s), need at least {min_rotations}")
    for s in samples:
        if s.observed_at > s.not_after:
            problems.append(f"an expired certificate (serial {s.serial:x}) was still served at {s.observed_at.isoformat()}")
            break
    traffic = traffic_report(requests) if requests else None
    if traffic and traffic.failures:
        problems.append(f"{traffic.failures} of {traffic.total} requests failed across the rotations")
    notes = (f"grace ratio {policy.ratio} +- {policy.jitter}, NotBefore back-dated {policy.backdate}",)
    return RotationReport(rotations, traffic, tuple(problems), notes)
