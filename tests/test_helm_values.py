"""Every Helm value the harness sets exists in the chart's own values.yaml, for each Istio tag in ../shared.

The values files are the base and istiod charts' defaults at each release tag (../shared/istio/helm-values/<tag>/,
provenance in ../shared/istio/SOURCES.md). Since Istio 1.24 the defaults sit under `_internal_defaults_do_not_set`
(the files' own header: "instead of `--set _internal_defaults_do_not_set.foo=bar`, just set `--set foo=bar`"), so a
key exists when it is found there or at the top level.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from paths import ROOT, SHARED
from test_executor_fakes import FakeRunner

from mtls_conformance.executor.istio import IstioInstaller
from mtls_conformance.executor.tools import IstioRelease
from mtls_conformance.versions import catalog, parse_version

VALUES_DIR = SHARED / "istio" / "helm-values"
TAGS = sorted(p.name for p in VALUES_DIR.iterdir() if p.is_dir()) if VALUES_DIR.is_dir() else []
CHART_FILE = {"istio-base": "base.values.yaml", "istiod": "istiod.values.yaml"}
_SET = re.compile(r"--set(?:-string)?[ =]([A-Za-z0-9_.\-]+)=")


def _flatten(doc: Any, prefix: str = "") -> list[str]:
    if isinstance(doc, dict) and doc:
        return [k for key, value in doc.items() for k in _flatten(value, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


def harness_values(tmp_path: Path) -> dict[str, set[str]]:
    """chart (Helm release name) -> dotted keys the harness sets: the installer's --set and --values, the scripts'
    and the workflows' --set. A user's own --istio-values file is theirs, not the harness's."""
    root = tmp_path / "istio-1.0.0"
    release = IstioRelease("1.0.0", root, root / "bin/istioctl", root / "base", root / "istiod")
    installer = IstioInstaller(FakeRunner(), "helm", kubeconfig=None, context=None, kube=cast(Any, None), clock=cast(Any, None))
    found: dict[str, set[str]] = {name: set() for name in CHART_FILE}
    for argv in installer.install_commands(release, None, 60):
        chart = argv[argv.index("--install") + 1]
        for flag, value in itertools.pairwise(argv):
            if flag == "--set":
                found[chart].add(value.split("=", 1)[0])
            elif flag == "--values":
                found[chart].update(_flatten(yaml.safe_load(Path(value).read_text())))
    script = (ROOT / "scripts" / "install-istio").read_text().replace("\\\n", " ")  # one line per command
    for line in script.splitlines():
        for key in _SET.findall(line):
            chart = "istio-base" if "istio-base" in line else "istiod"
            found[chart].add(key)
    for workflow in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        assert not _SET.search(workflow.read_text()), f"{workflow.name} sets a Helm value: add it to this check"
    return found


def _has(values: dict[str, Any], key: str) -> bool:
    for top in (values.get("_internal_defaults_do_not_set") or {}, values):
        node: Any = top
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            return True
    return False


def test_the_harness_sets_the_values_it_should(tmp_path: Path) -> None:
    found = harness_values(tmp_path)
    assert found["istio-base"] == {"defaultRevision"}
    assert found["istiod"] == {"global.hub", "global.tag"}


@pytest.mark.skipif(not TAGS, reason=f"no Helm values in {VALUES_DIR}")
@pytest.mark.parametrize("tag", TAGS)
def test_every_value_the_harness_sets_exists_in_the_chart(tmp_path: Path, tag: str) -> None:
    missing = []
    for chart, keys in harness_values(tmp_path).items():
        values = yaml.safe_load((VALUES_DIR / tag / CHART_FILE[chart]).read_text())
        missing += [f"{chart}: {key}" for key in sorted(keys) if not _has(values, key)]
    assert not missing, f"Istio {tag} charts have no such value: {missing}"


def test_an_unknown_value_is_caught() -> None:
    values = yaml.safe_load((VALUES_DIR / TAGS[-1] / "istiod.values.yaml").read_text()) if TAGS else {}
    assert not _has(values, "global.noSuchValue") and not _has(values, "defaultRevisionX")


def test_which_supported_lines_have_values_files() -> None:
    """Every supported line has a values file of some tag of that line; which ones are the pinned patch is recorded
    here so a new pin or a new tag in ../shared shows up (today only 1.26-1.28 have their pinned patch; 1.29 has
    1.29.6, 1.30 has 1.30.3 and 1.31 only the pre-release 1.31.0-rc.0)."""
    if not TAGS:
        pytest.skip(f"no Helm values in {VALUES_DIR}")
    lines = {".".join(t.split("-")[0].split(".")[:2]) for t in TAGS}
    assert {v.minor_line for v in catalog().supported} <= lines
    exact = {line for line, patch in catalog().pinned_patch.items() if patch in TAGS}
    assert exact == {"1.26", "1.27", "1.28"}
    for tag in TAGS:
        parse_version(tag.split("-")[0], "helm-values tag")
