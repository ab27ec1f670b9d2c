"""What a conformance report records about the run itself (shared contract with the pytest plugin)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from mtls_conformance import __version__

# The report's identity. Bump SCHEMA_VERSION's major for a breaking change and ship a new schema file;
# readers check both before trusting a document. 2.0 stores the per-probe results compactly (report/compact.py);
# 1.x reports (report-1.schema.json) are still read.
API_VERSION = "mtls-conformance/v1"
KIND = "MeshConformanceReport"
SCHEMA_VERSION = "2.0"
SCHEMA_FILE = "report.schema.json"
SCHEMA_FILES = {1: "report-1.schema.json", 2: SCHEMA_FILE}  # schema major -> the schema file that describes it


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunMeta:
    """Facts about one run: which mesh was tested, how, and when."""

    run_id: str
    istio_version: str  # as installed, e.g. "1.30.4" (a minor line such as "1.30" is accepted)
    kubernetes_version: str  # e.g. "v1.33.1"; "unknown" when the cluster did not say
    profile: str  # smoke | standard | full | scenario
    data_plane_mode: str = "sidecar"
    started: datetime = field(default_factory=_now)
    finished: datetime = field(default_factory=_now)
    suite_version: str = __version__
    # True when the observations were made up (self-tests, documentation samples), never on a cluster.
    synthetic: bool = False
