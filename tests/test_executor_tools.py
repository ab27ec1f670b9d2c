"""Tool cache: PATH detection, checksum-verified downloads (real sha256 over real files), cache reuse, clear errors.

Faked tool output and what pins its shape (none captured from a real run; the versions are tests/support/fake_cluster.py's):

- ``kind version``: ``kind v<version> <go version> <os>/<arch>`` (https://kind.sigs.k8s.io/docs/user/quick-start/; the
  Go version and platform words are **assumption**: the harness reads only the ``v<version>`` word).
- ``kubectl version --client -o json``: ``{"clientVersion": {"gitVersion": "v1.35.0", ...}}``, the version.Info JSON
  (https://kubernetes.io/docs/reference/kubectl/generated/kubectl_version/); the test keeps only the key read.
- ``helm version --template {{.Version}}``: the bare ``v3.19.2`` (https://helm.sh/docs/helm/helm_version/, ``--template``).
- ``docker version --format {{.Server.Version}}``: the bare server version (https://docs.docker.com/reference/cli/docker/version/);
  Docker down: ``Cannot connect to the Docker daemon at <host>. Is the docker daemon running?`` on stderr, exit 1
  (moby/moby client/errors.go @ d606d5ca84d6).
- Checksum files: ``sha256sum`` output (``<digest>  <name>``, ``*`` marks binary mode: GNU coreutils manual, "md5sum
  invocation") or a bare digest (dl.k8s.io ``.sha256``). The Istio release archive layout and its ``.sha256`` are the
  ones executor/data/tools.yaml names: **assumption**, no recorded archive listing.
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest
from support.fake_cluster import DOCKER_VERSION, HELM_VERSION, KIND_VERSION
from test_executor_fakes import FakeDownloader, FakeRunner, sha256

from mtls_conformance.executor.errors import HarnessError
from mtls_conformance.executor.tools import (
    Platform,
    Toolbox,
    default_cache_root,
    docker_status,
    istio_spec,
    parse_checksum_file,
    tool_specs,
)

KUBECTL_MAC = "https://dl.k8s.io/release/v1.34.1/bin/darwin/amd64/kubectl"
HELM_MAC = "https://get.helm.sh/helm-v3.19.2-darwin-arm64.tar.gz"


def toolbox(tmp_path: Path, downloader: FakeDownloader, runner: FakeRunner | None = None, plat: Platform | None = None,
            on_path: dict[str, str] | None = None) -> Toolbox:
    paths = on_path or {}
    return Toolbox(runner or FakeRunner(), downloader, cache_root=tmp_path / "cache", plat=plat or Platform("darwin", "amd64"),
                   which=paths.get, progress=io.StringIO())


def tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_pinned_data_is_well_formed() -> None:
    specs = tool_specs()
    assert set(specs) == {"kind", "kubectl", "helm"}
    for spec in specs.values():
        assert spec.url.startswith("https://") and spec.checksum_url.startswith("https://")
        assert spec.fits(spec.version), f"{spec.name}'s pinned version must fit its own range"
        for key, digest in spec.sha256.items():
            assert re.fullmatch(r"[0-9a-f]{64}", digest), f"{spec.name} {key}"
    assert istio_spec().url.startswith("https://github.com/istio/istio/releases/download/")


@pytest.mark.parametrize(("text", "name", "want"), [
    ("a" * 64 + "\n", "kubectl", "a" * 64),  # dl.k8s.io: the bare digest
    ("b" * 64 + "  kind-linux-amd64\n", "kind-linux-amd64", "b" * 64),  # kind: sha256sum format
    ("c" * 64 + " *helm.tar.gz\n" + "d" * 64 + "  other\n", "helm.tar.gz", "c" * 64),  # binary-mode marker
    ("e" * 64 + "  dist/istio-1.30.4-linux-amd64.tar.gz\n", "istio-1.30.4-linux-amd64.tar.gz", "e" * 64),
])
def test_checksum_file_formats(text: str, name: str, want: str) -> None:
    assert parse_checksum_file(text, name, "url") == want


def test_checksum_file_without_our_file_is_an_error() -> None:
    with pytest.raises(HarnessError, match="no sha256 for x"):
        parse_checksum_file("f" * 64 + "  y\n" + "0" * 64 + "  z\n", "x", "url")


def test_download_verifies_caches_and_reuses(tmp_path: Path) -> None:
    binary = b"#!/bin/sh\necho kubectl\n"
    dl = FakeDownloader({KUBECTL_MAC: binary, KUBECTL_MAC + ".sha256": sha256(binary).encode()})
    tool = toolbox(tmp_path, dl).resolve("kubectl")
    assert tool.source == "download" and tool.version == "1.34.1"
    assert tool.path == tmp_path / "cache/tools/kubectl/1.34.1/darwin-amd64/kubectl"
    assert tool.path.read_bytes() == binary and tool.path.stat().st_mode & 0o111
    assert (tool.path.parent / "kubectl.sha256").read_text().strip() == sha256(binary)
    again = toolbox(tmp_path, dl).resolve("kubectl")
    assert again.source == "cache" and dl.downloaded == [KUBECTL_MAC]


def test_tampered_cache_is_fetched_again(tmp_path: Path) -> None:
    binary = b"real kubectl"
    dl = FakeDownloader({KUBECTL_MAC: binary, KUBECTL_MAC + ".sha256": sha256(binary).encode()})
    tool = toolbox(tmp_path, dl).resolve("kubectl")
    tool.path.write_bytes(b"tampered")
    box = toolbox(tmp_path, dl)
    assert box.resolve("kubectl").source == "download"
    assert tool.path.read_bytes() == binary and len(dl.downloaded) == 2
    assert "does not match its recorded checksum" in box.progress.getvalue()  # type: ignore[union-attr]


def test_checksum_mismatch_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    dl = FakeDownloader({KUBECTL_MAC: b"corrupted", KUBECTL_MAC + ".sha256": sha256(b"original").encode()})
    with pytest.raises(HarnessError) as err:
        toolbox(tmp_path, dl).resolve("kubectl")
    assert "checksum mismatch" in err.value.one_line() and KUBECTL_MAC in err.value.one_line()
    assert not (tmp_path / "cache/tools/kubectl/1.34.1/darwin-amd64/kubectl").exists()


def test_publisher_checksum_must_match_the_pin(tmp_path: Path) -> None:
    url = "https://github.com/kubernetes-sigs/kind/releases/download/v0.33.0/kind-linux-amd64"
    fake = b"not the real kind"
    dl = FakeDownloader({url: fake, url + ".sha256sum": f"{sha256(fake)}  kind-linux-amd64\n".encode()})
    with pytest.raises(HarnessError, match="differs from the pinned aee615156142"):
        toolbox(tmp_path, dl, plat=Platform("linux", "amd64")).resolve("kind")
    assert dl.downloaded == []  # refused before fetching the binary


def test_download_failure_names_the_url_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(HarnessError) as err:
        toolbox(tmp_path, FakeDownloader()).resolve("kubectl")
    line = err.value.one_line()
    assert "download failed" in line and "kubectl.sha256" in line and "fix:" in line


def test_archive_member_is_extracted(tmp_path: Path) -> None:
    archive = tgz({"darwin-arm64/helm": b"helm binary", "darwin-arm64/README.md": b"docs"})
    dl = FakeDownloader({HELM_MAC: archive, HELM_MAC + ".sha256sum": f"{sha256(archive)}  helm-v3.19.2-darwin-arm64.tar.gz".encode()})
    tool = toolbox(tmp_path, dl, plat=Platform("darwin", "arm64")).resolve("helm")
    assert tool.path.name == "helm" and tool.path.read_bytes() == b"helm binary"
    assert not list(tool.path.parent.glob("*.tar.gz"))


def test_fitting_tool_on_path_is_used(tmp_path: Path) -> None:
    runner = FakeRunner().on("/usr/local/bin/kind", "version", stdout=f"kind v{KIND_VERSION} go1.24.6 linux/amd64\n")
    tool = toolbox(tmp_path, FakeDownloader(), runner, on_path={"kind": "/usr/local/bin/kind"}).resolve("kind")
    assert (tool.source, tool.version, str(tool.path)) == ("PATH", KIND_VERSION, "/usr/local/bin/kind")
    assert runner.calls == [("/usr/local/bin/kind", "version")]


def test_kubectl_and_helm_versions_are_read_from_their_own_formats(tmp_path: Path) -> None:
    runner = (FakeRunner()
              .on("/bin/kubectl", "version", "--client", "-o", "json", stdout='{"clientVersion": {"gitVersion": "v1.35.0"}}')
              .on("/bin/helm", "version", "--template", "{{.Version}}", stdout=f"v{HELM_VERSION}"))
    box = toolbox(tmp_path, FakeDownloader(), runner, on_path={"kubectl": "/bin/kubectl", "helm": "/bin/helm"})
    assert box.resolve("kubectl").version == "1.35.0"
    assert box.resolve("helm").source == "PATH"


def test_too_old_tool_on_path_is_replaced_by_the_pinned_one(tmp_path: Path) -> None:
    binary = b"kubectl 1.34.1"
    runner = FakeRunner().on("/bin/kubectl", "version", stdout='{"clientVersion": {"gitVersion": "v1.32.4-dispatcher"}}')
    dl = FakeDownloader({KUBECTL_MAC: binary, KUBECTL_MAC + ".sha256": sha256(binary).encode()})
    box = toolbox(tmp_path, dl, runner, on_path={"kubectl": "/bin/kubectl"})
    tool = box.resolve("kubectl")
    assert tool.source == "download"
    assert "reports 1.32.4; need >= 1.33.0" in box.progress.getvalue()  # type: ignore[union-attr]


def test_unknown_tool() -> None:
    with pytest.raises(HarnessError, match="use one of: helm, kind, kubectl"):
        Toolbox(FakeRunner(), FakeDownloader(), plat=Platform("linux", "amd64")).resolve("terraform")


def istio_archive(version: str) -> bytes:
    root = f"istio-{version}"
    return tgz({f"{root}/bin/istioctl": b"istioctl", f"{root}/manifests/charts/base/Chart.yaml": b"name: base\n",
                f"{root}/manifests/charts/istio-control/istio-discovery/Chart.yaml": b"name: istiod\n",
                f"{root}/samples/httpbin/httpbin.yaml": b"kind: Service\n"})


@pytest.mark.parametrize(("plat", "suffix"), [(Platform("linux", "amd64"), "linux-amd64"), (Platform("darwin", "amd64"), "osx"),
                                              (Platform("darwin", "arm64"), "osx-arm64")])
def test_istio_release_is_fetched_once_and_reverified(tmp_path: Path, plat: Platform, suffix: str) -> None:
    url = f"https://github.com/istio/istio/releases/download/1.30.4/istio-1.30.4-{suffix}.tar.gz"
    archive = istio_archive("1.30.4")
    dl = FakeDownloader({url: archive, url + ".sha256": f"{sha256(archive)}  istio-1.30.4-{suffix}.tar.gz\n".encode()})
    release = toolbox(tmp_path, dl, plat=plat).istio_release("1.30.4")
    assert release.istioctl.read_bytes() == b"istioctl" and release.istioctl.stat().st_mode & 0o111
    assert (release.base_chart / "Chart.yaml").is_file() and (release.istiod_chart / "Chart.yaml").is_file()
    assert toolbox(tmp_path, dl, plat=plat).istio_release("1.30.4") == release and dl.downloaded == [url]
    (release.base_chart / "Chart.yaml").write_text("name: evil\n")
    toolbox(tmp_path, dl, plat=plat).istio_release("1.30.4")
    assert len(dl.downloaded) == 2 and (release.base_chart / "Chart.yaml").read_text() == "name: base\n"


def test_cache_root_honours_the_environment(tmp_path: Path) -> None:
    assert default_cache_root({"MTLS_CONFORMANCE_CACHE": str(tmp_path)}) == tmp_path
    assert default_cache_root({"XDG_CACHE_HOME": "/x"}) == Path("/x/mtls-conformance")


def test_docker_status_reasons() -> None:
    missing = FakeRunner()
    assert docker_status(missing, 3, {})[1].startswith("Docker is not installed")
    down = FakeRunner().on("docker", "version", rc=1, stderr="Cannot connect to the Docker daemon at unix:///nonexistent/docker.sock. "
                                                             "Is the docker daemon running?\n")
    ok, reason = docker_status(down, 3, {"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert not ok and "unix:///nonexistent/docker.sock is unreachable" in reason and "\n" not in reason
    up = FakeRunner().on("docker", "version", stdout=f"{DOCKER_VERSION}\n")
    assert docker_status(up, 3, {}) == (True, f"Docker {DOCKER_VERSION}")
    assert up.kwargs[0]["timeout"] == 3


# --- a release that cannot be fetched: one line naming the version and the URL ------------------------------------
# The real HttpDownloader, with requests.get replaced: the exception types are requests' own (requests API docs,
# https://requests.readthedocs.io/en/latest/api/#exceptions: ConnectionError, Timeout, ... all RequestException), and
# the 404 is a real requests.Response with status 404, what requests returns (it raises nothing) when GitHub has no
# such release asset (https://requests.readthedocs.io/en/latest/user/quickstart/#response-status-codes).
def _http_toolbox(tmp_path: Path, get: object, monkeypatch: pytest.MonkeyPatch) -> Toolbox:
    import requests

    from mtls_conformance.executor import download

    monkeypatch.setattr(requests, "get", get)  # the module download.py calls requests.get on
    return Toolbox(FakeRunner(), download.HttpDownloader(timeout_s=5, progress=io.StringIO()), cache_root=tmp_path,
                   plat=Platform("linux", "amd64"), progress=io.StringIO())


def _not_found(url: str, **_: object) -> object:
    import requests

    response = requests.Response()
    response.status_code, response.reason, response.url = 404, "Not Found", url
    response.raw = io.BytesIO(b"Not Found")  # the body stream requests closes on exit
    return response


def test_unpublished_istio_release_is_one_line_naming_version_and_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    box = _http_toolbox(tmp_path, _not_found, monkeypatch)
    with pytest.raises(HarnessError) as err:
        box.istio_release("1.30.7")
    line = err.value.one_line()
    assert "\n" not in line and line.startswith("Istio 1.30.7: ")
    assert "https://github.com/istio/istio/releases/download/1.30.7/istio-1.30.7-linux-amd64.tar.gz.sha256" in line
    assert "HTTP 404" in line and "fix:" in line


@pytest.mark.parametrize("exc_name", ["ConnectionError", "Timeout", "SSLError", "ChunkedEncodingError", "TooManyRedirects"])
def test_network_failures_for_an_istio_release_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc_name: str) -> None:
    import requests

    def fail(url: str, **_: object) -> object:
        raise getattr(requests.exceptions, exc_name)(f"simulated for {url}")

    with pytest.raises(HarnessError) as err:
        _http_toolbox(tmp_path, fail, monkeypatch).istio_release("1.31.4")
    line = err.value.one_line()
    assert line.startswith("Istio 1.31.4: https://github.com/istio/istio/releases/download/1.31.4/") and exc_name in line
    assert "\n" not in line and not list(tmp_path.rglob("*.part"))


def test_archive_missing_after_its_checksum_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The .sha256 is published but the archive answers 404 (a half-published release)."""
    import requests

    url = "https://github.com/istio/istio/releases/download/1.30.6/istio-1.30.6-linux-amd64.tar.gz"

    def get(u: str, **_: object) -> object:
        if u == url + ".sha256":
            response = requests.Response()
            response.status_code, response._content = 200, f"{'a' * 64}  istio-1.30.6-linux-amd64.tar.gz\n".encode()
            return response
        return _not_found(u)

    with pytest.raises(HarnessError) as err:
        _http_toolbox(tmp_path, get, monkeypatch).istio_release("1.30.6")
    assert err.value.one_line().startswith(f"Istio 1.30.6: {url}: not published there (HTTP 404)")


def test_istio_pinned_digest_is_enforced_and_only_for_pinned_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mtls_conformance.versions import catalog

    spec = istio_spec()
    pinned = set(catalog().pinned_patch.values())
    for version, by_platform in spec.sha256.items():
        assert version in pinned, f"tools.yaml pins an Istio digest for {version}, which is not a pinned patch"
        for digest in by_platform.values():
            assert re.fullmatch(r"[0-9a-f]{64}", digest)
    # a pinned digest the publisher's file disagrees with stops the download before the archive is fetched
    url = "https://github.com/istio/istio/releases/download/1.30.6/istio-1.30.6-linux-amd64.tar.gz"
    archive = istio_archive("1.30.6")
    dl = FakeDownloader({url: archive, url + ".sha256": f"{sha256(archive)}  istio-1.30.6-linux-amd64.tar.gz\n".encode()})
    from mtls_conformance.executor import tools as tools_module

    monkeypatch.setattr(tools_module, "istio_spec", lambda: tools_module.IstioSpec(
        spec.url, spec.checksum_url, spec.charts, spec.istioctl, {"1.30.6": {"linux-amd64": "0" * 64}}))
    with pytest.raises(HarnessError, match=r"^Istio 1\.30\.6: .*differs from the pinned 000000000000"):
        toolbox(tmp_path, dl, plat=Platform("linux", "amd64")).istio_release("1.30.6")
    assert dl.downloaded == []


def test_istio_chart_command_refuses_bad_versions_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from mtls_conformance.executor.tools import main

    for bad in ("1.30.1-rc.0", "1.\u0663\u0660", "9" * 80):
        assert main(["istio-chart", bad, "base"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "VERSION" in err and "Traceback" not in err
