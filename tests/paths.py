"""Where the self-tests find things. A plain module (not conftest) so test files can import it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _find_shared() -> Path:
    """Shared reference material lives beside the project (CI has it there); it is never copied in.

    A fresh clone made elsewhere (e.g. into a temp dir) finds it beside the repository it was cloned from.
    $MTLS_CONFORMANCE_SHARED overrides both.
    """
    override = os.environ.get("MTLS_CONFORMANCE_SHARED")
    candidates = [Path(override)] if override else []
    candidates.append(ROOT.parent / "shared")
    try:
        origin = subprocess.run(["git", "-C", str(ROOT), "remote", "get-url", "origin"],
                                capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ""
    if origin and "://" not in origin and ":" not in origin.split("/")[0]:
        candidates.append(Path(origin.removeprefix("file://")).resolve().parent / "shared")
    return next((c for c in candidates if (c / "istio").is_dir()), candidates[0])


SHARED = _find_shared()
