"""Istio version pins and parsing: every pin has evidence, a line means its pinned patch, bad input is one line."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from mtls_conformance.errors import InputError
from mtls_conformance.versions import IstioVersion, catalog, parse_version, resolve_version


def _raw() -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load(resources.files("mtls_conformance.data").joinpath("istio-versions.yaml").read_text())
    return loaded


def test_every_supported_line_has_a_patch_pin_of_that_line() -> None:
    cat = catalog()
    assert {v.minor_line for v in cat.supported} == set(cat.pinned_patch)
    for line, patch in cat.pinned_patch.items():
        version = parse_version(patch)
        assert version.patch is not None and version.minor_line == line


def test_every_pin_records_its_evidence() -> None:
    evidence = _raw()["pin_evidence"]
    assert isinstance(evidence, dict) and set(evidence) == set(catalog().pinned_patch)
    for line, entries in evidence.items():
        assert entries, line
        for entry in entries:
            assert entry["tier"] in ("upstream", "distributor", "third-party") and entry["source"] and entry["says"]
        # the pinned patch itself is named by an upstream source (release notes or a GitHub release/tag)
        pin = catalog().pinned_patch[line]
        assert any(pin in e["says"] + e["source"] for e in entries if e["tier"] == "upstream"), f"{line}: {pin} lacks upstream evidence"


def test_pins_without_upstream_evidence_are_gone() -> None:
    """1.30.7 was pinned on third-party notes alone; newer patches seen only at distributors stay candidates."""
    assert catalog().pinned_patch["1.30"] == "1.30.5"  # "Announcing Istio 1.30.5", the newest upstream announcement
    assert catalog().pinned_patch["1.31"] == "1.31.0"  # the GitHub release; no upstream 1.31.x announcement reachable


@pytest.mark.parametrize("text", ["1.30", "v1.30", " 1.30 "])
def test_a_line_means_its_pinned_patch(text: str) -> None:
    version = resolve_version(text)
    assert version == IstioVersion(1, 30) and catalog().install_version(version) == catalog().pinned_patch["1.30"]


def test_an_exact_patch_is_installed_as_given() -> None:
    assert catalog().install_version(resolve_version("1.30.5")) == "1.30.5"
    assert catalog().install_version(resolve_version(None)) == catalog().pinned_patch[str(catalog().latest_stable)]


@pytest.mark.parametrize(("text", "says"), [
    ("1.30.1-rc.0", "pre-release"),
    ("1.31.0-beta.2", "pre-release"),
    ("1.30+build.5", "pre-release"),
    ("1.\u0663\u0660", "not an Istio version"),  # Arabic-Indic digits: int() would accept them
    ("\uff11.\uff13\uff10", "not an Istio version"),  # fullwidth digits
    ("1.30.99999", "not an Istio version"),
    ("9" * 5000, "not an Istio version"),
    ("1.30\n1.31", "not an Istio version"),
    ("", "not an Istio version"),
    ("1.30.", "not an Istio version"),
])
def test_bad_versions_are_one_line_input_errors(text: str, says: str) -> None:
    with pytest.raises(InputError) as err:
        resolve_version(text)
    line = err.value.one_line()
    assert says in line and "\n" not in line and len(line) < 300 and "fix:" in line


def test_a_pre_release_is_never_silently_its_release() -> None:
    with pytest.raises(InputError, match=r"use the release itself \(1\.30\.1\) or the line \(1\.30\)"):
        parse_version("1.30.1-rc.0")


@pytest.mark.parametrize("argv", [["plan", "--profile", "smoke", "--istio-version", "1.30.1-rc.0"],
                                  ["diff", "--expected", "1.29", "1.30.1-rc.0"]])
def test_cli_refuses_a_pre_release_with_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from mtls_conformance.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1 and "pre-release" in err


# ---- unpinned patches ------------------------------------------------------------------------------------


def _next_after_pin(line: str) -> IstioVersion:
    pin = catalog().pinned(parse_version(line))
    assert pin.patch is not None
    return IstioVersion(pin.major, pin.minor, pin.patch + 1)


@pytest.mark.parametrize("line", [str(v) for v in catalog().supported])
def test_every_patch_up_to_the_pin_is_known(line: str) -> None:
    """Releases are sequential: x.y.0 up to the pinned patch all exist, and each resolves as given."""
    v = parse_version(line)
    known = catalog().known_patches(v)
    assert known[0] == IstioVersion(v.major, v.minor, 0) and str(known[-1]) == catalog().pinned_patch[line]
    assert [v.patch for v in known] == list(range(len(known)))
    for version in known:
        assert resolve_version(str(version)) == version and catalog().install_version(version) == str(version)


@pytest.mark.parametrize("line", [str(v) for v in catalog().supported])
def test_a_patch_newer_than_the_pin_is_refused_with_the_known_ones_and_the_flag(line: str) -> None:
    unknown = _next_after_pin(line)
    pin = catalog().pinned_patch[line]
    with pytest.raises(InputError) as err:
        resolve_version(str(unknown))
    text = err.value.one_line()
    assert text.startswith(f"--istio-version: Istio {unknown} is newer than {line}'s pinned patch {pin} (known: {line}.0")
    assert f"{pin}); fix: use {line} (installs {pin})" in text and "--allow-unpinned" in text and "\n" not in text


def test_allow_unpinned_takes_the_release_as_given() -> None:
    unknown = _next_after_pin("1.30")
    assert resolve_version(str(unknown), allow_unpinned=True) == unknown
    assert catalog().install_version(unknown) == str(unknown)
    assert unknown.patch is not None
    assert resolve_version(f"1.30.{unknown.patch + 40}", allow_unpinned=True).patch == unknown.patch + 40


def test_the_flag_does_not_widen_the_supported_range_or_admit_pre_releases() -> None:
    with pytest.raises(InputError, match="is not supported"):
        resolve_version("1.99.0", allow_unpinned=True)
    with pytest.raises(InputError, match="pre-release"):
        resolve_version(f"{_next_after_pin('1.30')}-rc.0", allow_unpinned=True)


def test_the_where_of_the_error_is_the_callers_flag() -> None:
    with pytest.raises(InputError) as err:
        resolve_version(str(_next_after_pin("1.29")), "diff --expected OLD")
    assert err.value.where == "diff --expected OLD"
