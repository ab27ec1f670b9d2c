"""What a run changed on the cluster, shared by every process of the run (pytest-xdist workers).

Under xdist each worker opens its own session; the first may create the kind cluster and install Istio, another may
change the mesh config or install a plug-in CA, and the last to finish closes. So what must be undone is recorded in
a small JSON file in the run's results folder (read-modify-write under a file lock), and ``close`` undoes all of it
whichever worker runs it.
"""

from __future__ import annotations

import fcntl
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class RunState:
    created_cluster: bool = False  # this run created the kind cluster (so it deletes it unless kept)
    installed: list[str] = field(default_factory=list)  # Helm releases this run installed, in order
    plugin_ca: bool = False  # a suite-made cacerts is in place: istiod must be restarted without it
    original_mesh: str | None = None  # the `mesh` key of the istio ConfigMap before the run changed it


class RunStateFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Re-entrant within a thread: the SIGINT handler runs close() on the main thread, possibly in the middle of an
        # update. A second flock on a new descriptor of the same file would wait for ourselves forever.
        self._local = threading.RLock()
        self._held: RunState | None = None

    @contextmanager
    def update(self) -> Iterator[RunState]:
        """The current state, saved when the block ends; other processes (and threads) wait meanwhile."""
        with self._local:
            if self._held is not None:  # re-entered on this thread: the file lock is ours already
                yield self._held
                self._write(self._held)
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.with_name(self.path.name + ".lock").open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    state = self._held = self._read()
                    yield state
                    self._write(state)
                finally:
                    self._held = None
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, state: RunState) -> None:
        self.path.write_text(json.dumps(asdict(state), indent=1))

    def read(self) -> RunState:
        with self.update() as state:
            return state

    def _read(self) -> RunState:
        try:
            raw = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return RunState()
        return RunState(created_cluster=bool(raw.get("created_cluster")), installed=[str(r) for r in raw.get("installed", [])],
                        plugin_ca=bool(raw.get("plugin_ca")), original_mesh=raw.get("original_mesh"))
