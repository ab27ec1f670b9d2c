"""The timing table: documented defaults, overrides from YAML or a dict, and one-line errors for bad input."""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

import pytest

from mtls_conformance import timing as timing_module
from mtls_conformance.errors import InputError
from mtls_conformance.timing import Timing, load_timing


def test_defaults_follow_gateway_api_conformance() -> None:
    t = Timing()
    assert t.converge_window_s == 30.0  # MaxTimeToConsistency
    assert t.consecutive_successes == 3  # RequiredConsecutiveSuccesses
    assert all(v > 0 for v in t.as_dict().values())


def test_every_field_is_documented_with_a_comment() -> None:
    source = Path(timing_module.__file__).read_text().splitlines()
    tree = ast.parse("\n".join(source))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Timing")
    for node in cls.body:
        if isinstance(node, ast.AnnAssign):
            previous = source[node.lineno - 2].strip()
            assert previous.startswith("#"), f"{ast.unparse(node.target)} has no comment saying what it bounds"
    assert {f.name for f in fields(Timing)} >= {"converge_window_s", "consecutive_successes", "probe_timeout_s",
                                                "rollout_timeout_s", "install_timeout_s", "poll_interval_s", "capture_window_s"}


def test_yaml_file_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "timing.yaml"
    path.write_text("converge_window_s: 45\nconsecutive_successes: 5\nprobe_timeout_s: 2.5\n")
    t = load_timing(path, {"probe_timeout_s": 7})
    assert (t.converge_window_s, t.consecutive_successes, t.probe_timeout_s) == (45.0, 5, 7.0)
    assert isinstance(t.consecutive_successes, int) and isinstance(t.converge_window_s, float)
    assert t.rollout_timeout_s == Timing().rollout_timeout_s


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_timing(path) == Timing()


@pytest.mark.parametrize(("text", "where", "says"), [
    ("converge_windw_s: 10\n", "converge_windw_s", "unknown timing key"),
    ("converge_window_s: -1\n", "converge_window_s", "not a positive number"),
    ("converge_window_s: fast\n", "converge_window_s", "not a positive number"),
    ("consecutive_successes: 2.5\n", "consecutive_successes", "not a positive whole number"),
    ("consecutive_successes: true\n", "consecutive_successes", "not a positive whole number"),
    ("- 1\n- 2\n", "timing", "must be a mapping"),
    ("a: [\n", "timing", "not valid YAML at line"),
])
def test_bad_values_are_one_line_input_errors(tmp_path: Path, text: str, where: str, says: str) -> None:
    path = tmp_path / "timing.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_timing(path)
    message = err.value.one_line()
    assert "\n" not in message and says in message and str(path) in message
    if where != "timing":
        assert where in message


def test_unknown_key_lists_the_known_ones() -> None:
    with pytest.raises(InputError) as err:
        Timing().with_overrides({"nope": 1})
    assert "converge_window_s" in err.value.fix


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_timing(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="directory"):
        load_timing(tmp_path)
