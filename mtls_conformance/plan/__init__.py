"""The plan (pure): conformance matrix -> cases -> phases -> manifests."""

from mtls_conformance.plan.build import build_plan, counts
from mtls_conformance.plan.profiles import PROFILES

__all__ = ["PROFILES", "build_plan", "counts"]
