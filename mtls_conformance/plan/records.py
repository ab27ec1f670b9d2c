"""The suites' own case records: ``suites/<folder>/cases.yaml``, each record one declarative case whose scenario file
sits beside it (Gateway API's conformance style: a short name, features, and the YAML it applies).

    suite: port-level                      # the suite that presents these cases
    cases:
      - id: port-level/service-port-key-ignored
        scenario: service-port.yaml        # beside this file
        features: [peer-authentication, port-level]
        about: portLevelMtls keyed on the Service port has no effect
        issue: https://github.com/istio/istio/issues/49098     # optional: the upstream issue it reproduces
        requires_istio: ">=1.28"           # optional: a version range
        rotation: {server: ns/httpbin, client: ns/curl, secretTtl: 5m, minRotations: 2}   # rotation cases only

Every problem is an InputError naming the file and the field.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mtls_conformance.errors import InputError
from mtls_conformance.plan.gates import version_matches
from mtls_conformance.plan.model import Case
from mtls_conformance.scenario import load_scenario
from mtls_conformance.versions import IstioVersion

RECORDS_FILE = "cases.yaml"
_ID = re.compile(r"^[a-z0-9][a-z0-9./-]{0,150}$")
_FEATURE = re.compile(r"^[a-z0-9][a-z0-9.-]{0,60}$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?(h|m|s))+$")
_RECORD_KEYS = ("id", "scenario", "features", "about", "issue", "requires_istio", "rotation")
_ROTATION_KEYS = ("server", "client", "port", "secretTtl", "minRotations", "pluginCa")


def default_suites_dir() -> Path:
    """``suites/`` of the current directory when there is one (running from the project root), else the checkout's."""
    here = Path.cwd() / "suites"
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "suites"


def _text(where: str, field: str, value: Any, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: {field}", f"must be a non-empty string, got {value!r}"[:200], "write it as text")
    return value


def _rotation(where: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: rotation", "must be a mapping", "give server, client and secretTtl")
    unknown = sorted(set(map(str, raw)) - set(_ROTATION_KEYS))
    if unknown:
        raise InputError(f"{where}: rotation.{unknown[0]}", "is not a rotation setting", "use " + ", ".join(_ROTATION_KEYS))
    server = _text(where, "rotation.server", raw.get("server"))
    client = _text(where, "rotation.client", raw.get("client"))
    ttl = str(raw.get("secretTtl", "5m"))
    if not _DURATION.match(ttl):
        raise InputError(f"{where}: rotation.secretTtl", f"{ttl!r} is not a duration", "write e.g. 5m or 90s")
    port, rotations, plugin_ca = raw.get("port", 8000), raw.get("minRotations", 2), raw.get("pluginCa", False)
    if type(port) is not int or not 1 <= port <= 65535:
        raise InputError(f"{where}: rotation.port", f"{port!r} is not a port", "use 1-65535")
    if type(rotations) is not int or not 1 <= rotations <= 10:
        raise InputError(f"{where}: rotation.minRotations", f"{rotations!r} is not 1-10", "use a small whole number")
    if type(plugin_ca) is not bool:
        raise InputError(f"{where}: rotation.pluginCa", f"{plugin_ca!r} is not true or false", "use true or false")
    return {"server": server, "client": client, "port": port, "secret_ttl": ttl, "min_rotations": rotations,
            "plugin_ca": plugin_ca}


def _record(folder: Path, suite: str, index: int, raw: Any) -> Case:
    where = f"{folder / RECORDS_FILE}: cases[{index}]"
    if not isinstance(raw, Mapping):
        raise InputError(where, "is not a mapping", "write each record as id/scenario/features/about")
    unknown = sorted(set(map(str, raw)) - set(_RECORD_KEYS))
    if unknown:
        raise InputError(f"{where}.{unknown[0]}", "is not a record field", "use " + ", ".join(_RECORD_KEYS))
    case_id = _text(where, "id", raw.get("id"))
    if not _ID.match(case_id) or ":" in case_id:
        raise InputError(f"{where}.id", f"{case_id!r} is not a case ID", "use lowercase letters, digits, '.', '/' and '-'")
    file_name = _text(where, "scenario", raw.get("scenario"))
    path = folder / file_name
    if Path(file_name).is_absolute() or ".." in Path(file_name).parts or not path.is_file():
        raise InputError(f"{where}.scenario", f"{file_name!r} is not a file beside {RECORDS_FILE}", "name a scenario file in that folder")
    features = raw.get("features", [])
    if not isinstance(features, list) or not all(isinstance(f, str) and _FEATURE.match(f) for f in features):
        raise InputError(f"{where}.features", "must be a list of feature names", "write e.g. [peer-authentication, port-level]")
    requires = _text(where, "requires_istio", raw.get("requires_istio"), required=False) or None
    if requires:
        version_matches(requires, IstioVersion(1, 0), f"{where}.requires_istio")  # the clause grammar, checked now
    rotation = raw.get("rotation")
    scenario = load_scenario(path)
    return Case(id=case_id, suite=suite, features=tuple(features), scenario=scenario,
                description=_text(where, "about", raw.get("about")), dimensions={"source": file_name},
                origin="rotation" if rotation is not None else "record", requires_istio=requires,
                issue=_text(where, "issue", raw.get("issue"), required=False),
                params=_rotation(where, rotation) if rotation is not None else {})


def load_folder(folder: Path) -> tuple[Case, ...]:
    path = folder / RECORDS_FILE
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(str(path), f"cannot be read ({exc.__class__.__name__})", "fix the YAML") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("cases"), list):
        raise InputError(str(path), "needs 'suite' and a list 'cases'", "see mtls_conformance/plan/records.py")
    suite = _text(str(path), "suite", doc.get("suite"))
    return tuple(_record(folder, suite, i, raw) for i, raw in enumerate(doc["cases"]))


@functools.cache
def suite_records(suites_dir: Path) -> tuple[Case, ...]:
    """Every record of every ``<suites_dir>/*/cases.yaml``, folders in name order; IDs are unique."""
    cases: list[Case] = []
    for path in sorted(suites_dir.glob(f"*/{RECORDS_FILE}")):
        cases += load_folder(path.parent)
    seen: dict[str, str] = {}
    for case in cases:
        if case.id in seen:
            raise InputError(f"{suites_dir}", f"case ID {case.id} appears twice", "give every record a unique ID")
        seen[case.id] = case.suite
    return tuple(cases)


def scenario_cases(paths: tuple[Path, ...]) -> tuple[Case, ...]:
    """User scenario files (``--scenario``): one case each, ``scenario/<name>`` (numbered when names repeat)."""
    cases: list[Case] = []
    names: list[str] = []
    for path in paths:
        scenario = load_scenario(path)
        names.append(scenario.name)
        repeat = names.count(scenario.name)
        case_id = f"scenario/{scenario.name}" + (f"-{repeat}" if repeat > 1 else "")
        cases.append(Case(id=case_id, suite="scenario", features=("scenario",), scenario=scenario, origin="scenario",
                          description=f"user scenario {path}", dimensions={"source": str(path)}))
    return tuple(cases)
