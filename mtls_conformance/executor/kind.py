"""kind clusters: create (or reuse one of the same name), export its kubeconfig, load images, delete."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from mtls_conformance.errors import InputError
from mtls_conformance.executor.process import CommandRunner


class KindCluster:
    """One named kind cluster. The kubeconfig is written to our own file, never merged into the user's ~/.kube/config."""

    def __init__(self, runner: CommandRunner, kind: Path | str, name: str, kubeconfig: Path, *,
                 docker: str = "docker", progress: TextIO | None = None) -> None:
        self.runner = runner
        self.kind = str(kind)
        self.name = name
        self.kubeconfig = kubeconfig
        self.docker = docker
        self.progress = progress if progress is not None else sys.stderr

    @property
    def context(self) -> str:
        return f"kind-{self.name}"

    def _say(self, text: str) -> None:
        print(f"mtls-conformance: {text}", file=self.progress, flush=True)

    def exists(self) -> bool:
        result = self.runner.run([self.kind, "get", "clusters"], timeout=60).check("is Docker running? try `docker ps`")
        return self.name in result.stdout.split()

    def create(self, config: Path, wait_s: float) -> bool:
        """Create the cluster from ``config`` unless one of the same name exists. True when this call created it."""
        if not config.is_file():
            raise InputError(str(config), "kind config not found", "pass --kind-config FILE or run from the project root (kind-config.yaml)")
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        if self.exists():
            self._say(f"reusing kind cluster {self.name!r}")
            self.export_kubeconfig()
            return False
        self._say(f"creating kind cluster {self.name!r} from {config} (first run pulls the node image; a few minutes)")
        self.runner.run([self.kind, "create", "cluster", "--name", self.name, "--config", str(config),
                         "--kubeconfig", str(self.kubeconfig), "--wait", f"{int(wait_s)}s"],
                        timeout=wait_s + 600, stream=True).check(
            "see the kind output above; `docker system df` (disk) and `docker info` (memory) are common culprits")
        return True

    def export_kubeconfig(self) -> Path:
        self.runner.run([self.kind, "export", "kubeconfig", "--name", self.name, "--kubeconfig", str(self.kubeconfig)],
                        timeout=60).check()
        self.kubeconfig.chmod(0o600)
        return self.kubeconfig

    def load_images(self, images: Iterable[str]) -> None:
        """Pull each image into the local Docker (once) and load it into every node, so pods never wait on a registry."""
        for image in sorted(set(images)):
            present = self.runner.run([self.docker, "image", "inspect", "--format", "{{.Id}}", image], timeout=60)
            if not present.ok:
                self._say(f"pulling {image}")
                self.runner.run([self.docker, "pull", image], timeout=900, stream=True).check(
                    f"check the image name and your network: docker pull {image}")
            self._say(f"loading {image} into kind cluster {self.name!r}")
            loaded = self.runner.run([self.kind, "load", "docker-image", image, "--name", self.name], timeout=900)
            if not loaded.ok and "content digest" in loaded.stderr + loaded.stdout:
                self._load_one_platform(image)
            else:
                loaded.check()

    def _load_one_platform(self, image: str) -> None:
        """Docker's containerd image store saves a multi-platform image with an index naming every platform but holds
        the layers of one, and the nodes' `ctr import` then fails with "content digest ... not found"
        (https://github.com/kubernetes-sigs/kind/issues/3795). kind's documented workaround: save only the node's
        platform (`docker image save --platform`, Docker 28+) and load that archive."""
        server = self.runner.run([self.docker, "version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"], timeout=60).check()
        platform = server.stdout.strip() or "linux/amd64"
        self._say(f"retrying {image} as a {platform} archive (Docker's containerd image store, kind issue 3795)")
        with tempfile.TemporaryDirectory(prefix="mtlsc-image-") as folder:
            archive = str(Path(folder) / "image.tar")
            self.runner.run([self.docker, "image", "save", "--platform", platform, "--output", archive, image], timeout=900).check(
                "docker image save --platform needs Docker 28 or later; or turn off Docker's containerd image store")
            self.runner.run([self.kind, "load", "image-archive", archive, "--name", self.name], timeout=900).check()

    def delete(self) -> None:
        self._say(f"deleting kind cluster {self.name!r}")
        self.runner.run([self.kind, "delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig)],
                        timeout=300).check()
