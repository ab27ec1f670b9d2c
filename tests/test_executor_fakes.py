"""Fakes for the executor's seams (command runner, downloader, clock, Kubernetes API). Imported by test_executor_*.

No tests live here; the fakes record what the code under test asked for, so tests assert exact commands and calls.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.fake_cluster import LocalClock, LocalDownloader, matches_selector

from mtls_conformance.executor.download import Downloader
from mtls_conformance.executor.kube import ExecResult, ObjectRef, PodInfo
from mtls_conformance.executor.process import CommandResult

Responder = Callable[[tuple[str, ...]], CommandResult | None]


class FakeRunner:
    """Answers commands from rules (argv prefix -> result) and records every call with its options."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.kwargs: list[dict[str, Any]] = []
        self.rules: list[tuple[tuple[str, ...], CommandResult | Responder]] = []

    def on(self, *prefix: str, rc: int = 0, stdout: str = "", stderr: str = "") -> FakeRunner:
        self.rules.append((prefix, CommandResult(prefix, rc, stdout, stderr)))
        return self

    def on_call(self, *prefix: str, respond: Responder) -> FakeRunner:
        self.rules.append((prefix, respond))
        return self

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float | None = None,
            stream: bool = False) -> CommandResult:
        args = tuple(argv)
        self.calls.append(args)
        self.kwargs.append({"env": env, "timeout": timeout, "stream": stream})
        for prefix, answer in reversed(self.rules):  # later rules win
            if args[: len(prefix)] == prefix:
                if callable(answer):
                    result = answer(args)
                    if result is None:
                        continue
                    return result
                return CommandResult(args, answer.returncode, answer.stdout, answer.stderr)
        return CommandResult(args, 127, "", f"{args[0]}: command not found")

    def commands(self, program: str) -> list[tuple[str, ...]]:
        return [c for c in self.calls if Path(c[0]).name == program or c[0] == program]


class FakeDownloader(LocalDownloader, Downloader):
    """Serves files from memory; counts downloads; fails unknown URLs like the network would (the fake cluster's
    downloader, filled by the test)."""

    def __init__(self, files: Mapping[str, bytes] | None = None) -> None:
        super().__init__()
        self.files.update(files or {})

    def serve(self, url: str, body: bytes) -> None:
        self.files[url] = body


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeClock(LocalClock):
    """Time only moves when the code waits (or when a test ticks it): waits are observable and instant."""

    def tick(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class FakeKube:
    """An in-memory cluster: objects by ref, pods by namespace, scripted exec answers, and a call log."""

    version: str = "v1.34.0"
    objects: dict[ObjectRef, dict[str, Any]] = field(default_factory=dict)
    pods_by_ns: dict[str, list[PodInfo]] = field(default_factory=dict)
    configmaps: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    ready_deployments: set[tuple[str, str]] = field(default_factory=set)
    images: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    exec_handler: Callable[[PodInfo, str, Sequence[str]], ExecResult] | None = None
    log: list[tuple[Any, ...]] = field(default_factory=list)
    istiod_mesh: dict[str, Any] | None = None  # what `pilot-discovery request GET /debug/mesh` answers in istiod

    def server_version(self) -> str:
        return self.version

    def apply(self, objects: Sequence[Mapping[str, Any]]) -> list[ObjectRef]:
        refs = []
        for obj in objects:
            ref = ObjectRef.of(obj)
            self.objects[ref] = dict(obj)
            refs.append(ref)
        self.log.append(("apply", tuple(refs)))
        return refs

    def delete(self, refs: Sequence[ObjectRef]) -> None:
        self.log.append(("delete", tuple(refs)))
        for ref in refs:
            self.objects.pop(ref, None)

    def list_labeled(self, label_selector: str) -> list[ObjectRef]:
        # Kubernetes' selector rules (comma = and, !=, existence), as the API server applies them.
        return [r for r, o in self.objects.items() if matches_selector((o.get("metadata") or {}).get("labels") or {}, label_selector)]

    def delete_labeled(self, label_selector: str, timeout_s: float) -> list[ObjectRef]:
        gone = self.list_labeled(label_selector)
        for ref in gone:
            del self.objects[ref]
        self.log.append(("delete_labeled", label_selector, tuple(gone)))
        return gone

    def wait_rollouts(self, namespaces: Sequence[str], label_selector: str, timeout_s: float) -> None:
        self.log.append(("wait_rollouts", tuple(namespaces), label_selector))

    def pods(self, namespace: str, label_selector: str = "") -> list[PodInfo]:
        wanted = dict(part.split("=", 1) for part in label_selector.split(",") if part)
        return [p for p in self.pods_by_ns.get(namespace, []) if all(p.labels.get(k) == v for k, v in wanted.items())]

    def exec(self, pod: PodInfo, container: str, command: Sequence[str], timeout_s: float) -> ExecResult:
        self.log.append(("exec", pod.key, container, tuple(command)))
        if container == "discovery" and self.istiod_mesh is not None:
            return ExecResult(json.dumps(self.istiod_mesh), "", 0)
        if self.exec_handler is None:
            return ExecResult("", "no handler", 1)
        return self.exec_handler(pod, container, command)

    def ensure_debug_container(self, pod: PodInfo, name: str, image: str, timeout_s: float) -> None:
        self.log.append(("debug", pod.key, name, image))

    def logs(self, pod: PodInfo, container: str, tail_lines: int = 2000) -> str:
        return f"logs of {pod.key}/{container}\n"

    def get_configmap(self, namespace: str, name: str) -> dict[str, str] | None:
        found = self.configmaps.get((namespace, name))
        return dict(found) if found is not None else None

    def patch_configmap(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        self.log.append(("patch_configmap", namespace, name, dict(data)))
        self.configmaps.setdefault((namespace, name), {}).update(data)

    def deployment_ready(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.ready_deployments

    def deployment_images(self, namespace: str, name: str) -> list[str]:
        return list(self.images.get((namespace, name), []))

    def restart_deployment(self, namespace: str, name: str) -> None:
        self.log.append(("restart", namespace, name))

    def calls(self, kind: str) -> list[tuple[Any, ...]]:
        return [entry for entry in self.log if entry[0] == kind]
