"""Pinned tools (kind, kubectl, helm) and Istio releases: found on PATH, or fetched once, checksum-verified and cached.

Docker is the only prerequisite. Resolution order for a tool: PATH when its version fits the pinned range, else the
cache (re-verified against the digest recorded at download time), else a download verified against the publisher's
checksum file fetched beside it (and against a pinned digest in data/tools.yaml where one is known).

Also a small command line the shell scripts use, so they share this cache instead of re-implementing it:
    python -m mtls_conformance.executor.tools which kind|kubectl|helm
    python -m mtls_conformance.executor.tools istio-chart 1.30.4 base   # a verified chart folder of that release
    python -m mtls_conformance.executor.tools istio-chart 1.30 values   # values pinning that release's images
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import yaml

from mtls_conformance.errors import InputError
from mtls_conformance.executor.download import Downloader, HttpDownloader
from mtls_conformance.executor.errors import HarnessError
from mtls_conformance.executor.process import CommandRunner, SubprocessRunner

CACHE_ENV = "MTLS_CONFORMANCE_CACHE"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Platform:
    os: str  # linux | darwin
    arch: str  # amd64 | arm64

    @staticmethod
    def detect() -> Platform:
        system = platform.system().lower()
        machine = platform.machine().lower()
        arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)
        if system not in ("linux", "darwin") or arch is None:
            raise HarnessError(f"{system}/{machine}", "no pinned tool builds for this platform",
                               "put kind, kubectl and helm on PATH yourself (see docs/running.md)")
        return Platform(system, arch)

    @property
    def key(self) -> str:
        return f"{self.os}-{self.arch}"

    @property
    def istio_os_arch(self) -> str:
        # Istio names macOS "osx", and its x86_64 macOS archive has no arch suffix (reference Appendix D).
        if self.os == "darwin":
            return "osx" if self.arch == "amd64" else f"osx-{self.arch}"
        return f"linux-{self.arch}"


@dataclass(frozen=True)
class ToolSpec:
    name: str
    version: str
    url: str
    checksum_url: str
    archive_member: str | None
    version_command: tuple[str, ...]
    version_pattern: str
    min_version: str
    below_version: str
    sha256: Mapping[str, str]

    def fmt(self, template: str, plat: Platform) -> str:
        return template.format(version=self.version, os=plat.os, arch=plat.arch)

    def fits(self, version: str) -> bool:
        return _vtuple(self.min_version) <= _vtuple(version) < _vtuple(self.below_version)


@dataclass(frozen=True)
class IstioSpec:
    url: str
    checksum_url: str
    charts: Mapping[str, str]
    istioctl: str
    sha256: Mapping[str, Mapping[str, str]]  # version -> platform key -> archive digest, only where evidenced

    def pinned_digest(self, version: str, plat: Platform) -> str | None:
        return (self.sha256.get(version) or {}).get(plat.key)


@dataclass(frozen=True)
class ResolvedTool:
    name: str
    path: Path
    version: str
    source: str  # "PATH", "cache" or "download"


@dataclass(frozen=True)
class IstioRelease:
    version: str
    root: Path
    istioctl: Path
    base_chart: Path
    istiod_chart: Path


def _vtuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


@functools.cache
def _data() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(resources.files("mtls_conformance.executor").joinpath("data/tools.yaml").read_text())
    return loaded


def tool_specs() -> dict[str, ToolSpec]:
    return {
        name: ToolSpec(name=name, version=str(raw["version"]), url=raw["url"], checksum_url=raw["checksum_url"],
                       archive_member=raw.get("archive_member"), version_command=tuple(raw["version_command"]),
                       version_pattern=raw["version_pattern"], min_version=str(raw["min_version"]),
                       below_version=str(raw["below_version"]), sha256=dict(raw.get("sha256") or {}))
        for name, raw in _data()["tools"].items()
    }


def istio_spec() -> IstioSpec:
    raw = _data()["istio"]
    digests = {str(v): {str(k): str(d) for k, d in (by_platform or {}).items()} for v, by_platform in (raw.get("sha256") or {}).items()}
    return IstioSpec(url=raw["url"], checksum_url=raw["checksum_url"], charts=dict(raw["charts"]), istioctl=raw["istioctl"],
                     sha256=digests)


def default_cache_root(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mtls-conformance"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_checksum_file(text: str, filename: str, where: str) -> str:
    """The hex digest for ``filename`` in a checksum file: a bare digest (dl.k8s.io) or `<digest>  <name>` lines."""
    candidates: list[str] = []
    for line in text.splitlines():
        parts = line.strip().split()
        if not parts:
            continue
        digest = parts[0].lower()
        if not _HEX64.match(digest):
            continue
        name = parts[1].lstrip("*").rsplit("/", 1)[-1] if len(parts) > 1 else ""
        if name == filename:
            return digest
        if not name:
            candidates.append(digest)
    if len(candidates) == 1:
        return candidates[0]
    raise HarnessError(where, f"no sha256 for {filename} in the publisher's checksum file", "retry later, or report the release as broken")


def _tree_digests(root: Path, subpaths: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for sub in subpaths:
        target = root / sub
        files = [target] if target.is_file() else sorted(p for p in target.rglob("*") if p.is_file())
        for f in files:
            found[f.relative_to(root).as_posix()] = sha256_file(f)
    return found


class Toolbox:
    """Finds or fetches the tools of the harness. Every dependency is injectable for offline tests."""

    def __init__(self, runner: CommandRunner | None = None, downloader: Downloader | None = None, *,
                 cache_root: Path | None = None, plat: Platform | None = None,
                 which: Callable[[str], str | None] = shutil.which, progress: TextIO | None = None) -> None:
        self.runner = runner or SubprocessRunner()
        self.downloader = downloader or HttpDownloader()
        self.cache_root = cache_root or default_cache_root()
        self._platform = plat
        self.which = which
        self.progress = progress if progress is not None else sys.stderr
        self._resolved: dict[str, ResolvedTool] = {}

    @property
    def platform(self) -> Platform:
        if self._platform is None:
            self._platform = Platform.detect()
        return self._platform

    def _say(self, text: str) -> None:
        print(f"mtls-conformance: {text}", file=self.progress, flush=True)

    # --- tools -------------------------------------------------------------------------------------------------
    def path_version(self, spec: ToolSpec, path: str) -> str | None:
        """The version a binary reports, or None when it cannot tell."""
        result = self.runner.run([path, *spec.version_command], timeout=15)
        match = re.search(spec.version_pattern, result.stdout + "\n" + result.stderr) if result.ok else None
        return match.group(1) if match else None

    def resolve(self, name: str) -> ResolvedTool:
        if name in self._resolved:
            return self._resolved[name]
        specs = tool_specs()
        if name not in specs:
            raise HarnessError(name, "not a tool the harness manages", "use one of: " + ", ".join(sorted(specs)))
        spec = specs[name]
        on_path = self.which(name)
        if on_path:
            version = self.path_version(spec, on_path)
            if version and spec.fits(version):
                return self._remember(ResolvedTool(name, Path(on_path), version, "PATH"))
            self._say(f"{name} on PATH ({on_path}) reports {version or 'no version'}; need >= {spec.min_version} "
                      f"and < {spec.below_version}, using the pinned {spec.version}")
        return self._remember(self._cached_or_download(spec))

    def _remember(self, tool: ResolvedTool) -> ResolvedTool:
        self._resolved[tool.name] = tool
        return tool

    def _tool_dir(self, spec: ToolSpec) -> Path:
        return self.cache_root / "tools" / spec.name / spec.version / self.platform.key

    def _cached_or_download(self, spec: ToolSpec) -> ResolvedTool:
        folder = self._tool_dir(spec)
        binary, record = folder / spec.name, folder / f"{spec.name}.sha256"
        if binary.is_file() and record.is_file():
            if sha256_file(binary) == record.read_text().strip():
                return ResolvedTool(spec.name, binary, spec.version, "cache")
            self._say(f"cached {binary} does not match its recorded checksum; downloading it again")
        folder.mkdir(parents=True, exist_ok=True)
        url = spec.fmt(spec.url, self.platform)
        artefact = folder / url.rsplit("/", 1)[-1]
        self._say(f"fetching {spec.name} {spec.version} ({url})")
        self._download_verified(url, spec.fmt(spec.checksum_url, self.platform), artefact, spec.sha256.get(self.platform.key))
        if spec.archive_member:
            member = spec.fmt(spec.archive_member, self.platform)
            self._extract_member(artefact, member, binary)
            artefact.unlink()
        elif artefact != binary:
            artefact.replace(binary)
        binary.chmod(0o755)
        record.write_text(sha256_file(binary) + "\n")
        return ResolvedTool(spec.name, binary, spec.version, "download")

    def _download_verified(self, url: str, checksum_url: str, dest: Path, pinned: str | None) -> str:
        published = parse_checksum_file(self.downloader.fetch_text(checksum_url), dest.name, checksum_url)
        if pinned and pinned.lower() != published:
            raise HarnessError(checksum_url, f"publisher's checksum {published[:12]}… differs from the pinned {pinned[:12]}…",
                               "do not use this release; report it, or update the pin in executor/data/tools.yaml after checking")
        self.downloader.download(url, dest)
        actual = sha256_file(dest)
        if actual != published:
            dest.unlink(missing_ok=True)
            raise HarnessError(url, f"checksum mismatch: got sha256 {actual[:12]}…, publisher says {published[:12]}…",
                               "retry the download; if it persists, the file or mirror is corrupt")
        return actual

    @staticmethod
    def _extract_member(archive: Path, member: str, dest: Path) -> None:
        with tarfile.open(archive, "r:gz") as tar:
            try:
                info = tar.getmember(member)
            except KeyError:
                raise HarnessError(str(archive), f"{member} is missing from the archive", "report the release as broken") from None
            source = tar.extractfile(info)
            if source is None:
                raise HarnessError(str(archive), f"{member} is not a regular file", "report the release as broken")
            with source, dest.open("wb") as out:
                shutil.copyfileobj(source, out)

    # --- Istio releases ----------------------------------------------------------------------------------------
    def istio_release(self, version: str) -> IstioRelease:
        """istioctl and the base/istiod charts of exactly ``version``, downloaded once per version and platform."""
        spec = istio_spec()
        folder = self.cache_root / "istio" / version / self.platform.key
        root = folder / f"istio-{version}"
        record = folder / "verified.json"
        release = IstioRelease(version, root, root / spec.istioctl, root / spec.charts["base"], root / spec.charts["istiod"])
        subpaths = [spec.istioctl, *spec.charts.values()]
        if record.is_file() and root.is_dir():
            recorded = json.loads(record.read_text()).get("files", {})
            if recorded and _tree_digests(root, subpaths) == recorded:
                return release
            self._say(f"cached Istio {version} in {root} does not match its recorded checksums; downloading it again")
            shutil.rmtree(root, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        values = {"version": version, "istio_os_arch": self.platform.istio_os_arch}
        url, checksum_url = spec.url.format(**values), spec.checksum_url.format(**values)
        archive = folder / url.rsplit("/", 1)[-1]
        self._say(f"fetching Istio {version} ({url})")
        try:
            archive_sha = self._download_verified(url, checksum_url, archive, spec.pinned_digest(version, self.platform))
        except HarnessError as exc:
            # One line naming the release and the URL that failed (a pin with no release behind it ends here).
            raise HarnessError(f"Istio {version}", f"{exc.where}: {exc.problem}",
                               exc.fix + "; the releases are listed at https://github.com/istio/istio/releases") from None
        try:
            with tarfile.open(archive, "r:gz") as tar:
                if hasattr(tarfile, "data_filter"):  # Python 3.11.4+: refuse links and paths that leave the folder
                    tar.extractall(folder, filter="data")
                else:
                    tar.extractall(folder)  # noqa: S202 (the archive's checksum was verified against the publisher's)
        except (tarfile.TarError, OSError) as exc:
            raise HarnessError(f"Istio {version}", f"cannot unpack {url} ({exc.__class__.__name__}: {exc})",
                               f"delete {folder} and retry; if it persists, report the release as broken") from None
        archive.unlink()
        missing = [s for s in subpaths if not (root / s).exists()]
        if missing:
            raise HarnessError(url, "the release archive lacks " + ", ".join(missing), "choose another --istio-version")
        release.istioctl.chmod(0o755)
        record.write_text(json.dumps({"archive_sha256": archive_sha, "files": _tree_digests(root, subpaths)}, indent=1))
        return release


# --- Docker, the one prerequisite -------------------------------------------------------------------------------------
def docker_status(runner: CommandRunner, timeout_s: float, env: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """(True, server version) or (False, one-line reason with the fix). Never raises."""
    env = os.environ if env is None else env
    host = env.get("DOCKER_HOST") or "the default socket"
    try:
        result = runner.run(["docker", "version", "--format", "{{.Server.Version}}"], timeout=timeout_s)
    except HarnessError as exc:
        return False, exc.one_line()
    if result.returncode == 127:
        return False, "Docker is not installed (no `docker` on PATH); install Docker to let the suite create a kind cluster, or pass --kubeconfig"
    if result.ok and result.stdout.strip():
        return True, f"Docker {result.stdout.strip()}"
    if result.returncode == 124:
        return False, f"the Docker daemon at {host} did not answer within {timeout_s:g}s; start Docker or pass --kubeconfig"
    return False, f"the Docker daemon at {host} is unreachable; start Docker (or fix DOCKER_HOST), or pass --kubeconfig"


def require_docker(runner: CommandRunner, timeout_s: float) -> str:
    ok, reason = docker_status(runner, timeout_s)
    if not ok:
        raise HarnessError("docker", reason, "")
    return reason


def main(argv: Sequence[str] | None = None) -> int:
    """Command line for scripts/: `which TOOL` and `istio-chart VERSION base|istiod|values` print a verified cached path
    (`values` pins the release's image hub and tag, as the harness does)."""
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m mtls_conformance.executor.tools which kind|kubectl|helm | istio-chart VERSION base|istiod|values"
    try:
        if len(args) == 2 and args[0] == "which":
            print(Toolbox().resolve(args[1]).path)
            return 0
        if len(args) == 3 and args[0] == "istio-chart" and args[2] in ("base", "istiod", "values"):
            from mtls_conformance.executor.istio import pinned_values
            from mtls_conformance.versions import catalog, resolve_version

            release = Toolbox().istio_release(catalog().install_version(resolve_version(args[1], "VERSION", allow_unpinned=True)))
            print({"base": release.base_chart, "istiod": release.istiod_chart, "values": pinned_values(release)}[args[2]])
            return 0
    except InputError as exc:
        print(f"mtls-conformance: {exc.one_line()}", file=sys.stderr)
        return 2
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
