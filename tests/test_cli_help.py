"""`mtls-conformance --help` and each command's --help: every command listed once, every argument explained, one
runnable example per command; counts in CLI output read as English (1 probe, 2 probes)."""

from __future__ import annotations

import argparse
import shlex
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from mtls_conformance.cli import COMMANDS, EXAMPLES, build_parser, plural
from mtls_conformance.versions import IstioVersion, catalog, parse_version

Cli = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]
ONE_PROBE = "workloads:\n  - {name: a, namespace: foo, ports: [{port: 80}]}\n  - {name: b, namespace: bar, ports: []}\n"


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_top_level_help_lists_each_command_once_with_an_example(cli: Cli) -> None:
    result = cli(["--help"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for name in COMMANDS:
        listed = [x for x in lines if x.split()[:1] == [name]]
        assert len(listed) == 1, (name, listed)
        assert sum(x.strip().startswith(f"mtls-conformance {name} ") for x in lines) == 1, name  # its example
    assert "pytest suites --istio-version" in result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_help_ends_with_an_example_of_that_command(cli: Cli, name: str) -> None:
    result = cli([name, "--help"])
    assert result.returncode == 0, result.stderr
    tail = result.stdout.split("\nexample", 1)
    assert len(tail) == 2, f"{name} --help has no example"
    assert f"  mtls-conformance {name} " in tail[1]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_argument_has_help_text(name: str) -> None:
    parser = _subparsers()[name]
    for action in parser._actions:
        assert action.help, f"{name}: {action.option_strings or action.dest} has no help text"


@pytest.mark.parametrize("name", COMMANDS)
def test_each_example_parses(name: str) -> None:
    argv = shlex.split(EXAMPLES[name])
    assert argv[:2] == ["mtls-conformance", name]
    args = build_parser().parse_args(argv[1:])
    assert args.command == name


def test_plural() -> None:
    assert [plural(n, "probe") for n in (0, 1, 2)] == ["0 probes", "1 probe", "2 probes"]
    assert plural(1, "peak pod") == "1 peak pod" and plural(3, "skipped", "skipped") == "3 skipped"


def test_one_probe_reads_singular_in_expect_and_plan(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(ONE_PROBE)
    expect = cli(["expect", str(path)])
    assert expect.returncode == 0, expect.stderr
    assert expect.stdout.splitlines()[0].endswith(": 1 probe")
    plan = cli(["plan", "--scenario", str(path)])
    assert plan.returncode == 0, plan.stderr
    first = plan.stdout.splitlines()[0]
    assert "1 case, 1 probe, 1 phase, 0 skipped, 0 isolated, 2 namespaces, 2 pods, 2 peak pods, 1 service," in first
    assert " 1 probes" not in plan.stdout + expect.stdout and " 1 cases" not in plan.stdout


def test_expect_table_cites_each_rule_with_a_listed_source(cli: Cli) -> None:
    scenario = Path(__file__).resolve().parent / "scenarios" / "docs" / "authn-policy-mesh-strict.yaml"
    result = cli(["expect", str(scenario)])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].rstrip().endswith("RULES [SOURCE]")
    at = lines.index("sources:")
    listed = dict(x.strip().split(" ", 1) for x in lines[at + 1:])
    assert listed and all(url.startswith("https://") for url in listed.values())
    assert len(set(listed.values())) == len(listed)  # each source once
    cited = {f"[{ref.rsplit('[', 1)[1]}" for row in lines[2:at] for ref in row.split()[-1].split(",")}
    assert cited == set(listed)
    row = next(x for x in lines[2:at] if x.startswith("legacy/curl") and " foo/httpbin " in x)
    assert "server.strict[" in row


def _after_pin(line: str) -> IstioVersion:
    pin = catalog().pinned(parse_version(line))
    assert pin.patch is not None
    return IstioVersion(pin.major, pin.minor, pin.patch + 1)


@pytest.mark.parametrize("verb", ["expect", "explain"])
def test_an_unpinned_patch_needs_the_flag(cli: Cli, tmp_path: Path, verb: str) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(ONE_PROBE)
    argv = [verb, str(path), "--istio-version", str(_after_pin("1.30"))]
    if verb == "explain":
        argv += ["--from", "bar/b", "--to", "foo/a", "--port", "80"]
    refused = cli(argv)
    assert refused.returncode == 2 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1
    assert f"pinned patch {catalog().pinned_patch['1.30']}" in refused.stderr and "--allow-unpinned" in refused.stderr
    allowed = cli([*argv, "--allow-unpinned"])
    assert allowed.returncode == 0, allowed.stderr
    assert "on Istio 1.30" in allowed.stdout.splitlines()[0]
