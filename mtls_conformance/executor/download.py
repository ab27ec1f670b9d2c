"""Downloading release files, behind an interface so the tool cache is tested with a fake."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol, TextIO

import requests

from mtls_conformance.executor.errors import HarnessError


class Downloader(Protocol):
    def download(self, url: str, dest: Path) -> None:
        """Write the body of ``url`` to ``dest``; raise HarnessError when it cannot."""
        ...

    def fetch_text(self, url: str) -> str:
        """The body of a small text file (a checksum file)."""
        ...


def _failed(url: str, why: str) -> HarnessError:
    return HarnessError(url, f"download failed ({why})",
                        "check your internet connection or proxy (HTTPS_PROXY), or put the tool on PATH / in the cache by hand")


def _status(url: str, status: int) -> HarnessError:
    if status in (403, 404, 410):  # GitHub answers 404 for a release asset that was never published
        return HarnessError(url, f"not published there (HTTP {status})", "check that this release exists, or choose another version")
    return _failed(url, f"HTTP {status}")


class HttpDownloader:
    """requests-based downloads with a progress line on stderr for large files."""

    def __init__(self, timeout_s: float = 600.0, progress: TextIO | None = None) -> None:
        self.timeout_s = timeout_s
        self.progress = progress if progress is not None else sys.stderr

    def fetch_text(self, url: str) -> str:
        try:
            response = requests.get(url, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise _failed(url, exc.__class__.__name__) from None
        if response.status_code != 200:
            raise _status(url, response.status_code)
        return response.text

    def download(self, url: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".part")
        try:
            with requests.get(url, stream=True, timeout=self.timeout_s) as response:
                if response.status_code != 200:
                    raise _status(url, response.status_code)
                total = int(response.headers.get("content-length") or 0)
                done, shown = 0, -1
                with partial.open("wb") as out:
                    for chunk in response.iter_content(chunk_size=1 << 20):
                        out.write(chunk)
                        done += len(chunk)
                        percent = done * 100 // total if total else -1
                        if percent // 10 != shown // 10:
                            shown = percent
                            where = f"{percent}%" if total else f"{done >> 20} MiB"
                            print(f"mtls-conformance: downloading {dest.name}: {where}", file=self.progress, flush=True)
        except requests.RequestException as exc:
            partial.unlink(missing_ok=True)
            raise _failed(url, exc.__class__.__name__) from None
        except HarnessError:
            partial.unlink(missing_ok=True)
            raise
        except OSError as exc:  # the cache folder is not writable, the disk is full
            partial.unlink(missing_ok=True)
            raise HarnessError(str(dest), f"cannot write the download ({exc.strerror or exc.__class__.__name__})",
                               "free space or fix permissions there, or set MTLS_CONFORMANCE_CACHE") from None
        partial.replace(dest)
