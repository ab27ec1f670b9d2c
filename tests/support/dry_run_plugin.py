"""pytest plugin for the offline dry run: ``pytest suites -p dry_run_plugin`` runs the real plugin, the real run loop and
the executor's real MeshSession against the fake cluster of ``fake_cluster.py`` (shapes recorded from real artefacts).

Environment: ``MTLS_DRY_RUN_DIR`` (the fake cluster's shared state, one per run), ``MTLS_DRY_RUN_MODE`` (``kind``: the
session creates the cluster and installs Istio; ``existing``: Istio is already installed, pass ``--kubeconfig`` with
the kit's kubeconfig), ``MTLS_DRY_RUN_INSTALLED`` (existing mode: the installed release), ``MTLS_DRY_RUN_EXEC_FAILS``
(workload keys whose probe exec fails in transport: their checks end in error, with a repro bundle),
``MTLS_DRY_RUN_ROTATION_STALLS`` (workload keys whose istio-agent never renews its certificate: the rotation check fails).

Time: the session's clock is the fake cluster's ``LocalClock`` (instant waits that move fake time), so the rotation
driver's ``wall`` clock (real ``datetime.now`` in fixtures/plugin.py) is replaced with the fake clock's ``wall()``: the
certificates' NotBefore/NotAfter, the traffic lines' ``date`` stamps and the driver's sample stamps then share one time.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from support.fake_cluster import Faults, existing_kit, kind_kit

from mtls_conformance.executor.session import MeshSession
from mtls_conformance.run.options import RunOptions

EXISTING_KUBECONFIG = "existing-kubeconfig.yaml"  # where existing_kit writes its kubeconfig, under the state dir


def pytest_mtls_cluster_available(config: Any, options: RunOptions) -> tuple[bool, str]:
    return True, "the dry run's fake cluster"


def pytest_mtls_open_session(config: Any, options: RunOptions) -> MeshSession:
    state = Path(os.environ["MTLS_DRY_RUN_DIR"])
    plan = options.plan()
    phases, isolated = plan.phases, plan.isolated
    failing = frozenset(k for k in os.environ.get("MTLS_DRY_RUN_EXEC_FAILS", "").split(",") if k)
    stalls = frozenset(k for k in os.environ.get("MTLS_DRY_RUN_ROTATION_STALLS", "").split(",") if k)
    faults = Faults(probe_exec_fails=failing, rotation_stalls=stalls) if failing or stalls else None
    if os.environ.get("MTLS_DRY_RUN_MODE", "kind") == "existing":
        kit = existing_kit(state, phases, os.environ.get("MTLS_DRY_RUN_INSTALLED", "1.30.3"), faults=faults, cases=isolated)
    else:
        kit = kind_kit(state, phases, istio_version=str(options.istio_version), faults=faults, cases=isolated)
    # The run's own identity and folders; the kit supplies the seams (tools, cluster, clock) and its kubeconfig.
    session_options = dataclasses.replace(kit.options, run_id=options.run_id, results_dir=options.results_dir,
                                          keep_cluster=options.keep_cluster, keep_on_failure=options.keep_on_failure)
    return MeshSession.open(session_options, **kit.open_kwargs())
