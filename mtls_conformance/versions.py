"""Istio versions the suite supports, and the version facts the engine and harness rely on.

Version differences are data (``data/istio-versions.yaml``), each with its source, never ``if`` chains.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from mtls_conformance.errors import InputError

# ASCII digits only (``\d`` would also take e.g. Arabic-Indic digits), at most 4 per part (Istio's are 1-2 digits),
# and an optional suffix captured only to refuse it by name: a pre-release must not silently become its release.
_VERSION_RE = re.compile(r"v?([0-9]{1,4})\.([0-9]{1,4})(?:\.([0-9]{1,4}))?(-[0-9A-Za-z.+-]*|\+[0-9A-Za-z.+-]*)?")
_MAX_INPUT = 64
_HOW = "use MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 1.30 or 1.30.3"


@dataclass(frozen=True, order=True)
class IstioVersion:
    major: int
    minor: int
    patch: int | None = None

    @property
    def minor_line(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return self.minor_line if self.patch is None else f"{self.minor_line}.{self.patch}"

    def line(self) -> IstioVersion:
        return IstioVersion(self.major, self.minor)


@dataclass(frozen=True)
class VersionFact:
    """A fact that holds from ``since`` (inclusive) until ``until`` (exclusive), with its source."""

    id: str
    says: str
    source: str
    since: IstioVersion | None
    until: IstioVersion | None
    kind: str  # "api" (what the API server accepts) or "behaviour" (what the data plane does)

    def holds_for(self, version: IstioVersion) -> bool:
        v = version.line()
        return (self.since is None or v >= self.since) and (self.until is None or v < self.until)


@dataclass(frozen=True)
class VersionCatalog:
    supported: tuple[IstioVersion, ...]
    latest_stable: IstioVersion
    pinned_patch: dict[str, str]
    facts: tuple[VersionFact, ...]
    source: str

    @property
    def oldest(self) -> IstioVersion:
        return self.supported[0]

    @property
    def newest(self) -> IstioVersion:
        return self.supported[-1]

    def facts_for(self, version: IstioVersion) -> tuple[VersionFact, ...]:
        return tuple(f for f in self.facts if f.holds_for(version))

    def fact(self, fact_id: str) -> VersionFact:
        for f in self.facts:
            if f.id == fact_id:
                return f
        raise KeyError(fact_id)

    def pinned(self, line: IstioVersion) -> IstioVersion:
        """The pinned patch of a supported minor line (what ``--istio-version MAJOR.MINOR`` installs)."""
        return parse_version(self.pinned_patch[line.minor_line], "data/istio-versions.yaml")

    def known_patches(self, line: IstioVersion) -> tuple[IstioVersion, ...]:
        """The releases of a supported line up to its pin (patch releases are sequential, so every one up to it exists)."""
        pin = self.pinned(line)
        return tuple(IstioVersion(pin.major, pin.minor, p) for p in range((pin.patch or 0) + 1))

    def is_unpinned(self, version: IstioVersion) -> bool:
        """True for a patch newer than its line's pinned patch (e.g. one seen only at a distributor)."""
        if version.patch is None or version.minor_line not in self.pinned_patch:
            return False
        return version > self.pinned(version.line())

    def install_version(self, version: IstioVersion) -> str:
        """The full release to install for a minor line (a patch given by the user wins)."""
        if version.patch is not None:
            return str(version)
        return self.pinned_patch[version.minor_line]


def parse_version(text: str, where: str = "--istio-version") -> IstioVersion:
    """MAJOR.MINOR or MAJOR.MINOR.PATCH (a leading ``v`` is allowed). Pre-releases (1.30.1-rc.0) are refused."""
    raw = str(text)
    shown = repr(raw if len(raw) <= _MAX_INPUT else raw[:_MAX_INPUT] + "...")
    m = _VERSION_RE.fullmatch(raw.strip()) if len(raw) <= _MAX_INPUT else None
    if not m:
        raise InputError(where, f"{shown} is not an Istio version", _HOW)
    major, minor, patch, suffix = m.groups()
    if suffix is not None:
        release = f"{major}.{minor}" + (f".{patch}" if patch is not None else "")
        raise InputError(where, f"{shown} is a pre-release or build, which the suite does not install or test",
                         f"use the release itself ({release}) or the line ({major}.{minor})")
    return IstioVersion(int(major), int(minor), int(patch) if patch is not None else None)


def _parse_opt(text: Any) -> IstioVersion | None:
    return None if text in (None, "") else parse_version(str(text), "data/istio-versions.yaml")


@functools.cache
def catalog() -> VersionCatalog:
    raw = yaml.safe_load(resources.files("mtls_conformance.data").joinpath("istio-versions.yaml").read_text())
    supported = tuple(sorted(parse_version(v, "data/istio-versions.yaml") for v in raw["supported"]))
    facts = tuple(
        VersionFact(
            id=f["id"],
            says=" ".join(f["says"].split()),
            source=f["source"],
            since=_parse_opt(f.get("since")),
            until=_parse_opt(f.get("until")),
            kind=f["kind"],
        )
        for f in raw["facts"]
    )
    pinned = {str(k): str(v) for k, v in raw["pinned_patch"].items()}
    for line, patch in pinned.items():
        version = parse_version(patch, f"data/istio-versions.yaml pinned_patch {line}")
        if version.patch is None or version.minor_line != line:
            raise InputError("data/istio-versions.yaml", f"pinned_patch {line}: {patch} is not a patch release of {line}",
                             "pin MAJOR.MINOR.PATCH of that line")
    missing = [str(v) for v in supported if v.minor_line not in pinned]
    if missing:
        raise InputError("data/istio-versions.yaml", "no pinned_patch for " + ", ".join(missing),
                         "pin the newest patch of each supported line, with its evidence")
    return VersionCatalog(
        supported=supported,
        latest_stable=parse_version(raw["latest_stable"], "data/istio-versions.yaml"),
        pinned_patch=pinned,
        facts=facts,
        source=raw["source"],
    )


ALLOW_UNPINNED = "--allow-unpinned"


def resolve_version(text: str | None, where: str = "--istio-version", *, allow_unpinned: bool = False) -> IstioVersion:
    """Parse and range-check a user's version; ``None`` means the latest stable release.

    A line (``1.30``) means its pinned patch. A patch newer than the pin is refused with the known releases of the
    line, unless ``allow_unpinned`` (the ``--allow-unpinned`` flag) says the user means that unpinned release."""
    cat = catalog()
    if text is None:
        return cat.latest_stable
    version = parse_version(text, where)
    if not cat.oldest <= version.line() <= cat.newest:
        raise InputError(
            where,
            f"Istio {version} is not supported",
            f"choose a version from {cat.oldest} to {cat.newest} (supported releases: "
            + ", ".join(str(v) for v in cat.supported)
            + ")",
        )
    if not allow_unpinned and cat.is_unpinned(version):
        pin = cat.pinned(version.line())
        raise InputError(
            where,
            f"Istio {version} is newer than {version.minor_line}'s pinned patch {pin} "
            f"(known: {', '.join(str(v) for v in cat.known_patches(version.line()))})",
            f"use {version.minor_line} (installs {pin}) or a known patch, or add {ALLOW_UNPINNED} to test {version} anyway",
        )
    return version
