"""report.html in a real headless Chromium (Debian's chromium): it renders, it is clickable, it filters, it escapes.

The page is driven without CDP: a copy of the report (beside it, so its data/ parts load) gets one extra inline
script (a click or a filter change) that runs once the page has drawn its grid, and ``--dump-dom`` prints the DOM
after it ran. The report comes from the SYNTHETIC run (made-up observations); tests/test_report_scale.py renders a
full-profile-sized one.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from netns import require
from test_report_synthetic import HOSTILE_ID, SKIPPED, WRONG_PLAINTEXT, cases, meta, verdicts

from mtls_conformance.report import load_report, write_run_report

WIDTH, HEIGHT = 1400, 1000
MTLS_BLUE, PLAINTEXT_ORANGE, FAIL_RED = (0x25, 0x63, 0xEB), (0xF5, 0x9E, 0x0B), (0xDC, 0x26, 0x26)  # --mtls, --plaintext, --fail


def _chromium() -> str:
    require("chromium", root=False)
    found = shutil.which("chromium")
    assert found is not None
    return found


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The virtual-time budget lets the page's asynchronous work (inflating its data, loading a part) finish first.
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}", f"--window-size={WIDTH},{HEIGHT}",
           "--virtual-time-budget=10000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    case_list = cases()
    path = write_run_report(tmp_path_factory.mktemp("html"), meta(), list(verdicts(case_list)), SKIPPED, case_list)
    return path.with_name("report.html"), load_report(path)


def _dom_after(tmp: Path, page: Path, script: str, name: str = "driven") -> str:
    """The DOM once the page has drawn its grid and then ``script`` has run."""
    copy = page.with_name(f"{name}.html")
    ready = "(function go() { if (document.body.hasAttribute('data-ready')) { " + script + " } else setTimeout(go, 10); })();"
    copy.write_text(page.read_text().replace("</body>", f"<script>{ready}</script></body>"))
    result = _run(tmp, "--dump-dom", copy.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'data-ready="yes"' in result.stdout, "the page never drew its grid"
    return result.stdout


def _decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered RGB(A) rows of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = bpp = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def _count(rows: list[bytes], rgb: tuple[int, int, int], bpp: int) -> int:
    return sum(1 for row in rows for i in range(0, len(row), bpp) if tuple(row[i:i + 3]) == rgb)


def test_screenshot_shows_the_coloured_matrix(tmp_path: Path, report: tuple[Path, dict[str, Any]]) -> None:
    page, _ = report
    shot = tmp_path / "report.png"
    # Half the device pixels: the squares keep their exact colours and the pure-Python PNG check stays quick.
    result = _run(tmp_path, "--force-device-scale-factor=0.5", f"--screenshot={shot}", page.as_uri())
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    data = shot.read_bytes()
    assert len(data) > 15_000  # a blank or error page compresses to a few kB
    width, height, rows = _decode_png(data)
    assert (width, height) == (WIDTH // 2, HEIGHT // 2)
    bpp = len(rows[0]) // width
    assert _count(rows, MTLS_BLUE, bpp) > 100  # many mTLS squares ...
    assert _count(rows, PLAINTEXT_ORANGE, bpp) > 100  # ... and plaintext ones: the grid was drawn and coloured


def test_clicking_a_failed_cell_shows_evidence_and_explanation(tmp_path: Path, report: tuple[Path, dict[str, Any]]) -> None:
    page, doc = report
    dom = _dom_after(tmp_path, page, "document.querySelector('.cell.v-fail').click();", "click")
    detail = dom[dom.index('<aside id="detail"'):dom.index("</aside>")]
    failed = next(r for r in doc["results"] if r["status"] == "fail")
    assert failed["case"] == WRONG_PLAINTEXT
    assert WRONG_PLAINTEXT.replace(">", "&gt;") in detail
    assert "why it failed" in detail and "X-Forwarded-Client-Cert header says plaintext" in detail
    assert "evidence" in detail and 'connection_security_policy="none"' in detail.replace("&quot;", '"')
    for step in failed["explanation"]:  # the engine's explanation, every step with its rule and source
        assert step["rule"] in detail and f'href="{doc["rules"][step["rule"]]["source"]}"' in detail.replace("&amp;", "&")
    assert 'class="cell c-plaintext v-fail selected"' in dom


def test_filters_narrow_the_matrix(tmp_path: Path, report: tuple[Path, dict[str, Any]]) -> None:
    page, doc = report
    script = ("const s = document.getElementById('f-client'); s.value = 'plaintext'; s.dispatchEvent(new Event('change'));")
    dom = _dom_after(tmp_path, page, script, "filter")
    plaintext = sum(1 for r in doc["results"] if r["dimensions"].get("client") == "plaintext")
    assert 0 < plaintext < len(doc["results"])
    assert len(re.findall(r'<button class="cell ', dom)) == plaintext
    assert f"showing {plaintext} of {len(doc['results'])} probes" in dom


def test_every_probe_is_a_cell_and_hostile_text_stays_text(tmp_path: Path, report: tuple[Path, dict[str, Any]]) -> None:
    page, doc = report
    selector = json.dumps(HOSTILE_ID).replace("<", "\\u003c")  # no '</script>' inside this test's own script
    script = ("document.body.setAttribute('data-scripts', document.scripts.length);"
              "document.body.setAttribute('data-bold', document.querySelectorAll('#matrix b, #detail b').length);"
              f"document.querySelector('.cell[aria-label^={selector}]').click();")
    dom = _dom_after(tmp_path, page, script, "hostile")
    assert 'data-scripts="4"' in dom  # the data and vocabulary blocks, the page's script, this test's script: nothing injected
    assert 'data-bold="0"' in dom  # '<b>STRICT</b>' in a dimension was shown as text, not markup
    assert "&lt;script&gt;alert" in dom  # and the hostile case ID is displayed, as text
    assert len(re.findall(r'<button class="cell ', dom)) == len(doc["results"])
    assert f"showing {len(doc['results'])} of {len(doc['results'])} probes" in dom
    assert "Skipped cases (1)" in dom and SKIPPED[0][1] in dom
    assert f"Version facts for Istio 1.30.4 ({len(doc['version_facts'])})" in dom
    assert all(f"<td class=\"mono\">{f['id']}</td>" in dom for f in doc["version_facts"])


def test_named_cases_get_a_grid_of_their_own(tmp_path: Path) -> None:
    """Cases without matrix coordinates do not pile into one column: one row per case, one column per probe target."""
    from dataclasses import replace

    matrix = cases()
    named = [replace(c, id=f"named/case-{i}", dimensions={}, origin="named") for i, c in enumerate(matrix[:3])]
    case_list = [*matrix[3:6], *named]
    path = write_run_report(tmp_path / "named", meta(), list(verdicts(case_list)), [], case_list)
    dom = _dom_after(tmp_path, path.with_name("report.html"), "", "named")
    grid = dom[dom.index('<div id="named">'):]
    assert "Named cases (6 probes)" in grid and "(all)" not in dom
    rows = re.findall(r"<tbody>.*?</tbody>", grid, re.S)[0]
    assert [f"named/case-{i}" in rows for i in range(3)] == [True, True, True]
    assert len(re.findall(r'<button class="cell ', grid)) == 6
    heads = re.findall(r"<thead>.*?</thead>", grid, re.S)[0]
    assert "srv/backend:8000" in heads and "srv/backend:9000" in heads  # columns: the probe targets


def test_the_first_screen_says_what_failed_why_and_by_which_rule(tmp_path: Path, report: tuple[Path, dict[str, Any]]) -> None:
    page, doc = report
    text = page.read_text()
    attention = text[text.index('<section id="attention">'):text.index("</section>", text.index('<section id="attention">'))]
    assert "Needs attention: 1 failed, 1 not observed" in attention
    assert attention.index('class="badge c-fail"') < attention.index('class="badge c-error"')  # failed first
    assert "expected mTLS, the X-Forwarded-Client-Cert header says plaintext" in attention
    rule = doc["rules"]["server.strict"]
    assert f'href="{rule["source"]}"' in attention.replace("&amp;", "&") and ">server.strict</a>" in attention
    assert 'href="#case=mesh-STRICT%2Fns-none%2Fwl-none%2Fport-none%2Fdr-none%2Fauto-on%2Fsidecar-%3Esidecar&amp;probe=' in attention
    assert '<details id="controls-box">' in text  # the filters start collapsed
    # following the "details" link opens that probe's details, loaded from data/part-001.js
    link = re.findall(r'class="details" href="([^"]+)"', attention)[0].replace("&amp;", "&")
    dom = _dom_after(tmp_path, page, f"location.hash = {json.dumps(link)};", "follow")
    detail = dom[dom.index('<aside id="detail"'):dom.index("</aside>")]
    assert "why it failed" in detail and WRONG_PLAINTEXT.replace(">", "&gt;") in detail and "engine explanation" in detail


def test_the_first_screen_of_a_smoke_sized_report(tmp_path: Path, report: tuple[Path, dict[str, Any]]) -> None:
    """The screenshot a person sees first: verdict, counts, what needs attention, the grid; timed against Chromium's start."""
    page, _ = report
    start = time.perf_counter()
    _run(tmp_path, f"--screenshot={tmp_path / 'blank.png'}", "about:blank")
    blank = time.perf_counter() - start
    shot = tmp_path / "first-screen.png"
    start = time.perf_counter()
    result = _run(tmp_path, f"--screenshot={shot}", page.as_uri())
    took = time.perf_counter() - start
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    print(f"\nfirst screen, smoke-sized report: {took:.2f} s in headless Chromium ({took - blank:.2f} s beyond its {blank:.2f} s start); {shot}")
    assert took - blank <= 3.0
    width, _, rows = _decode_png(shot.read_bytes())
    bpp = len(rows[0]) // width
    assert _count(rows, FAIL_RED, bpp) > 200  # the FAILURE pill and the FAIL badge
    assert _count(rows, MTLS_BLUE, bpp) > 400  # and the grid, on the first screen
