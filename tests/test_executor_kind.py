"""kind lifecycle with a fake runner: exact commands, reuse by name, image loading, clear errors.

What each faked kind/docker output is, and what pins it (no output here was captured from a real run):

- ``kind get clusters``: one cluster name a line on stdout (``fmt.Fprintln(streams.Out, cluster)``), and for none
  "No kind clusters found." logged on stderr -- kubernetes-sigs/kind pkg/cmd/kind/get/clusters/clusters.go @ 046e2bbeb5b3
  (tests/support/fake_cluster.py answers the same).
- kind errors: kind prints a failed command's error on stderr as ``ERROR: <error>``; ``load docker-image`` on a cluster
  without nodes fails with ``no nodes found for cluster "<name>"`` (pkg/cmd/kind/load/docker-image/docker-image.go @
  d3327a3296cc). The ``ctr ... content digest ...: not found`` text of a multi-platform image is the one reported in the
  issue this fallback fixes (kind's "failed to load image: command ... failed with error ... Command Output:" wrapping:
  **assumption**, not checked against kind's source).
- Docker down: the Docker client's ``Cannot connect to the Docker daemon at <host>. Is the docker daemon running?``
  (moby/moby client/errors.go @ d606d5ca84d6, errConnectionFailed), which kind passes through on stderr.
- ``docker version --format {{.Server.Os}}/{{.Server.Arch}}``: the Go template of
  https://docs.docker.com/reference/cli/docker/version/ (``linux/arm64``); ``docker image inspect --format {{.Id}}``:
  the image ID (https://docs.docker.com/reference/cli/docker/image/inspect/); "No such image" on stderr when absent.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from test_executor_fakes import FakeRunner

from mtls_conformance.errors import InputError
from mtls_conformance.executor.errors import CommandError
from mtls_conformance.executor.kind import KindCluster


def cluster(tmp_path: Path, runner: FakeRunner) -> KindCluster:
    return KindCluster(runner, "/cache/kind", "mtls-conformance", tmp_path / "kube" / "mtls-conformance.yaml", progress=io.StringIO())


def export_writes(runner: FakeRunner, tmp_path: Path) -> None:
    def respond(argv: tuple[str, ...]):  # type: ignore[no-untyped-def]
        Path(argv[argv.index("--kubeconfig") + 1]).write_text("apiVersion: v1\n")
        from mtls_conformance.executor.process import CommandResult

        return CommandResult(argv, 0, "", "")

    runner.on_call("/cache/kind", "export", "kubeconfig", respond=respond)


def test_creates_a_missing_cluster_with_the_config_and_a_bounded_wait(tmp_path: Path) -> None:
    config = tmp_path / "kind-config.yaml"
    config.write_text("kind: Cluster\n")
    runner = FakeRunner().on("/cache/kind", "get", "clusters", stdout="other\n").on("/cache/kind", "create")
    created = cluster(tmp_path, runner).create(config, 300)
    assert created is True
    assert runner.calls[-1] == ("/cache/kind", "create", "cluster", "--name", "mtls-conformance", "--config", str(config),
                                "--kubeconfig", str(tmp_path / "kube/mtls-conformance.yaml"), "--wait", "300s")
    assert runner.kwargs[-1]["stream"] is True  # long work shows kind's own progress


def test_reuses_a_cluster_of_the_same_name(tmp_path: Path) -> None:
    config = tmp_path / "kind-config.yaml"
    config.write_text("kind: Cluster\n")
    runner = FakeRunner().on("/cache/kind", "get", "clusters", stdout="mtls-conformance\nother\n")
    export_writes(runner, tmp_path)
    kind = cluster(tmp_path, runner)
    assert kind.create(config, 300) is False
    assert [c[1] for c in runner.calls] == ["get", "export"]
    assert kind.kubeconfig.stat().st_mode & 0o777 == 0o600 and kind.context == "kind-mtls-conformance"


def test_missing_config_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="kind config not found"):
        cluster(tmp_path, FakeRunner()).create(tmp_path / "nope.yaml", 300)


def test_kind_failure_keeps_the_command_and_output(tmp_path: Path) -> None:
    docker_down = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"  # moby client/errors.go
    runner = FakeRunner().on("/cache/kind", "get", "clusters", rc=1, stderr=f"ERROR: failed to list clusters: {docker_down}\n")
    with pytest.raises(CommandError) as err:
        cluster(tmp_path, runner).exists()
    assert err.value.argv == ("/cache/kind", "get", "clusters") and "Cannot connect" in err.value.one_line()


def test_images_are_pulled_once_then_loaded(tmp_path: Path) -> None:
    runner = (FakeRunner()
              .on("docker", "image", "inspect", rc=1, stderr="Error: No such image: docker.io/mccutchen/go-httpbin:v2.15.0\n")
              .on("docker", "image", "inspect", "--format", "{{.Id}}", "docker.io/curlimages/curl:8.16.0", stdout="sha256:1")
              .on("docker", "pull").on("/cache/kind", "load", "docker-image"))
    cluster(tmp_path, runner).load_images(["docker.io/mccutchen/go-httpbin:v2.15.0", "docker.io/curlimages/curl:8.16.0",
                                           "docker.io/mccutchen/go-httpbin:v2.15.0"])
    pulls = [c for c in runner.calls if c[:2] == ("docker", "pull")]
    assert pulls == [("docker", "pull", "docker.io/mccutchen/go-httpbin:v2.15.0")]  # the present image is not pulled
    loads = [c for c in runner.calls if c[1:3] == ("load", "docker-image")]
    assert loads == [("/cache/kind", "load", "docker-image", "docker.io/curlimages/curl:8.16.0", "--name", "mtls-conformance"),
                     ("/cache/kind", "load", "docker-image", "docker.io/mccutchen/go-httpbin:v2.15.0", "--name", "mtls-conformance")]


def test_a_multi_platform_image_the_containerd_store_cannot_export_is_loaded_as_a_one_platform_archive(tmp_path: Path) -> None:
    image = "docker.io/istio/proxyv2:1.30.4"
    saved: list[str] = []

    def save(argv: tuple[str, ...]):  # type: ignore[no-untyped-def]
        from mtls_conformance.executor.process import CommandResult

        saved.append(argv[argv.index("--output") + 1])
        return CommandResult(argv, 0, "", "")

    runner = (FakeRunner().on("docker", "image", "inspect", stdout="sha256:1")
              .on("/cache/kind", "load", "docker-image", rc=1, stderr="ERROR: failed to load image: command \"docker exec "
                  "--privileged -i mtls-conformance-worker ctr --namespace=k8s.io images import --all-platforms --digests "
                  "--snapshotter=overlayfs -\" failed with error: exit status 1\nCommand Output: ctr: content digest "
                  "sha256:9106d83981393d7489c50e7cfa87a9d30b78444420c22931094256e55f9d0e5f: not found")
              .on("docker", "version", stdout="linux/arm64\n")
              .on_call("docker", "image", "save", respond=save)
              .on("/cache/kind", "load", "image-archive"))
    cluster(tmp_path, runner).load_images([image])
    (archive,) = saved
    assert ("docker", "image", "save", "--platform", "linux/arm64", "--output", archive, image) in runner.calls
    assert runner.calls[-1] == ("/cache/kind", "load", "image-archive", archive, "--name", "mtls-conformance")
    assert not Path(archive).exists()  # the temporary archive is removed


def test_other_load_failures_are_reported_as_they_are(tmp_path: Path) -> None:
    runner = (FakeRunner().on("docker", "image", "inspect", stdout="sha256:1")
              .on("/cache/kind", "load", "docker-image", rc=1, stderr="ERROR: no nodes found for cluster \"mtls-conformance\"\n"))
    with pytest.raises(CommandError, match="no nodes found"):
        cluster(tmp_path, runner).load_images(["docker.io/curlimages/curl:8.16.0"])
    assert not [c for c in runner.calls if c[1:3] == ("image", "save")]


def test_delete(tmp_path: Path) -> None:
    runner = FakeRunner().on("/cache/kind", "delete")
    cluster(tmp_path, runner).delete()
    assert runner.calls == [("/cache/kind", "delete", "cluster", "--name", "mtls-conformance",
                             "--kubeconfig", str(tmp_path / "kube/mtls-conformance.yaml"))]


def test_pinned_kind_is_the_release_of_the_node_image() -> None:
    """kind-config.yaml names the kind release its node image belongs to; the pinned kind must be that release."""
    from mtls_conformance.executor.tools import tool_specs

    config = (Path(__file__).resolve().parents[1] / "kind-config.yaml").read_text()
    assert f"kind v{tool_specs()['kind'].version}" in config, "update executor/data/tools.yaml (kind) with the node image"
