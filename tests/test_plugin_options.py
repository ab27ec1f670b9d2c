"""Options, markers and version gating of the conformance plugin."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.demo_suites import make_suites

from fixtures.markers import FEATURES, gate_reason, marker_name, version_matches
from mtls_conformance.errors import InputError
from mtls_conformance.versions import IstioVersion, catalog, parse_version

pytest_plugins = ("pytester",)

READ_OPTIONS = """\
from mtls_conformance.versions import catalog


def test_defaults(run_options, pytestconfig):
    import os
    if os.environ.get("GIVEN") == "1":
        return
    assert run_options.istio_version == catalog().latest_stable
    assert run_options.profile == "smoke"
    assert run_options.cluster_name == "mtls-conformance"
    assert run_options.results_dir == pytestconfig.rootpath / "results" / run_options.run_id
    assert not run_options.plan_only and not run_options.allow_install and run_options.scenario_files == ()


def test_given(run_options):
    import os
    if os.environ.get("GIVEN") != "1":
        return
    assert str(run_options.istio_version) == "1.30.3"
    assert run_options.profile == "standard" and run_options.context == "kind-x"
    assert run_options.allow_install and run_options.keep_cluster and run_options.keep_on_failure
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest('pytest_plugins = ["fixtures.plugin"]\n')
    return pytester


def test_defaults_come_from_the_version_catalog(project: pytest.Pytester) -> None:
    project.makepyfile(test_opts=READ_OPTIONS)
    project.runpytest_subprocess().assert_outcomes(passed=2)


def test_given_values_are_parsed(project: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project.makepyfile(test_opts=READ_OPTIONS)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n")
    monkeypatch.setenv("GIVEN", "1")
    result = project.runpytest_subprocess("--istio-version=1.30.3", "--profile=standard", f"--kubeconfig={kubeconfig}", "--context=kind-x",
                                          "--allow-install", "--keep-cluster", "--keep-on-failure")
    result.assert_outcomes(passed=2)


def _unpinned() -> IstioVersion:
    """The patch after the 1.30 pin: a release the suite does not know."""
    pin = catalog().pinned(parse_version("1.30"))
    assert pin.patch is not None
    return IstioVersion(pin.major, pin.minor, pin.patch + 1)


def test_allow_unpinned_accepts_a_patch_newer_than_the_pin(project: pytest.Pytester) -> None:
    project.makepyfile(test_opts=f"def test_version(run_options):\n    assert str(run_options.istio_version) == '{_unpinned()}'\n")
    project.runpytest_subprocess(f"--istio-version={_unpinned()}", "--allow-unpinned").assert_outcomes(passed=1)


def test_a_line_still_means_its_pinned_patch_without_the_flag(project: pytest.Pytester) -> None:
    project.makepyfile(test_opts="def test_version(run_options):\n    assert str(run_options.istio_version) == '1.30'\n")
    project.runpytest_subprocess("--istio-version=1.30").assert_outcomes(passed=1)


def _bad(tmp_path: Path) -> list[tuple[str, str]]:
    not_mapping = tmp_path / "values.yaml"
    not_mapping.write_text("- a\n- b\n")
    bad_yaml = tmp_path / "scenario.yaml"
    bad_yaml.write_text("workloads: [\n")
    return [
        ("--istio-version=1.2", "not supported"),
        ("--istio-version=banana", "not an Istio version"),
        (f"--istio-version={_unpinned()}", f"pinned patch {catalog().pinned(_unpinned().line())}"),
        ("--profile=huge", "not a profile"),
        (f"--kubeconfig={tmp_path / 'missing'}", "file not found"),
        (f"--istio-values={not_mapping}", "not a mapping"),
        (f"--timing={tmp_path / 'missing.yaml'}", "file not found"),
        (f"--scenario={bad_yaml}", "not valid YAML"),
        ("--cluster-name=Bad_Name", "not a valid kind cluster name"),
    ]


def test_bad_values_are_one_line_usage_errors_with_exit_2(project: pytest.Pytester, tmp_path: Path) -> None:
    project.makepyfile(test_x="def test_x():\n    pass\n")

    def run(arg: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", arg], cwd=project.path,
                              capture_output=True, text=True, timeout=120, check=False)

    cases = _bad(tmp_path)
    with ThreadPoolExecutor(max_workers=len(cases)) as pool:  # one interpreter each, in parallel: the suite stays fast
        results = list(pool.map(run, [arg for arg, _ in cases]))
    for (arg, problem), result in zip(cases, results, strict=True):
        lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        assert result.returncode == 2, (arg, lines)
        assert len(lines) == 1 and lines[0].startswith("ERROR: ") and problem in lines[0] and "fix:" in lines[0], (arg, lines)
        if arg.startswith(f"--istio-version={_unpinned()}"):
            assert "--allow-unpinned" in lines[0], lines


def test_every_feature_marker_and_requires_istio_are_registered(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--markers")
    text = result.stdout.str()
    for feature in FEATURES:
        assert f"@pytest.mark.{marker_name(feature)}:" in text
    assert "@pytest.mark.requires_istio(spec)" in text


def test_feature_markers_select_cases(pytester: pytest.Pytester) -> None:
    scenario = "workloads:\n  - {name: c, namespace: d-a, ports: []}\n  - {name: s, namespace: d-b, ports: [{port: 8000}]}\n"
    records = [{"id": "demo/rot", "scenario": "a.yaml", "features": ["rotation"], "about": "x"},
               {"id": "demo/authz", "scenario": "a.yaml", "features": ["authorization"], "about": "y"}]
    make_suites(pytester, records, {"a.yaml": scenario}, test_source=(
        "from fixtures.cases import cases\n\n\n@cases(suite='demo', origin='record')\ndef test_demo(check):\n    pass\n"))
    pytester.runpytest_subprocess("-m", "rotation").assert_outcomes(passed=1, deselected=1)


def test_version_clauses() -> None:
    v130 = parse_version("1.30.3")
    assert version_matches(">=1.30", v130) and version_matches(">=1.26,<1.31", v130)
    assert not version_matches("<1.30", v130) and not version_matches("==1.29", v130)
    with pytest.raises(InputError):
        version_matches("~1.30", v130)


def test_gate_reason_names_the_missing_fact() -> None:
    fact = catalog().fact("api.authz-serviceaccounts")
    assert fact.since is not None
    older = parse_version(f"{fact.since.major}.{fact.since.minor - 1}")
    reason = gate_reason(("api.authz-serviceaccounts",), None, older)
    assert reason is not None and fact.id in reason and fact.source in reason
    assert gate_reason(("api.authz-serviceaccounts",), None, fact.since) is None
    assert gate_reason((), ">=1.31", parse_version("1.30")) == "needs Istio >=1.31; this run uses 1.30"


def test_a_case_needing_a_newer_istio_skips_with_that_reason(pytester: pytest.Pytester, tmp_path: Path) -> None:
    scenario = "workloads:\n  - {name: c, namespace: d-a, ports: []}\n  - {name: s, namespace: d-b, ports: [{port: 8000}]}\n"
    records = [{"id": "demo/new", "scenario": "a.yaml", "features": [], "about": "x", "requires_istio": ">=1.31"}]
    make_suites(pytester, records, {"a.yaml": scenario})
    result = pytester.runpytest_subprocess("--istio-version=1.30", "-rs", f"--results-dir={tmp_path}")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*needs Istio >=1.31; this run uses 1.30*"])
