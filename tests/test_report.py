"""report.html is self-contained and renders in a real browser with every image shown."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gnneval._plugins.manager import build_plugin_host
from gnneval.core.problems import collecting
from gnneval.show.html_report import write_report
from gnneval.show.pictures import draw_all

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def report(gnneval_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    reg = build_plugin_host().registry
    with collecting() as problems:
        files = draw_all(reg, gnneval_run, out, reg.default_names("visualiser"))
    assert not problems, problems
    gnneval_run.files.update(files)
    return write_report(gnneval_run, out)


def test_report_is_self_contained(report):
    text = report.read_text()
    assert "<img" in text and "data:image/png;base64," in text
    assert not re.search(r"""(src|href)=['"]?(https?:|//|file:)""", text), "the report must not load anything"
    for needle in ("Model and dataset", "Settings", "Summary", "Pictures", "Provenance", "sha256", "structured@0.50"):
        assert needle in text
    assert text.count("<img") >= 6


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (.ci/setup.sh installs it where "
    "apt-get runs as root); cannot render the report in a real browser",
)
@pytest.mark.browser
@pytest.mark.slow
def test_report_renders_in_headless_chromium_with_every_image_shown(report, tmp_path):
    dom = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    n_img = report.read_text().count("<img")
    match = re.search(r'data-images="([^"]+)"', dom.stdout)
    assert match, f"the page's load check did not run: {dom.stderr[-500:]}"
    assert match.group(1) == f"ok {n_img}", match.group(1)
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile2'}",
            "--window-size=1400,2000",
            f"--screenshot={shot}",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    import matplotlib.image

    img = matplotlib.image.imread(shot)
    assert img.shape[0] == 2000 and img.shape[1] == 1400 and img.std() > 0.05  # a page with content, not blank


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed; cannot render in a real browser")
def test_the_browser_check_catches_a_broken_image(gnneval_run, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    run = type(gnneval_run)(**{**gnneval_run.__dict__, "files": {"curves": str(bad)}})
    page = write_report(run, tmp_path)
    dom = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert 'data-images="broken 1 of 1"' in dom.stdout


@pytest.mark.browser
@pytest.mark.slow
def test_report_fits_1400_px_leads_with_results_and_sorts(report):
    """Results first (the headline curves, then the summary as a real table), every table whole at 1400 px
    (the page's scroll width equals its viewport), a header click sorts, the settings collapsed at the end."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (.ci/setup.sh installs it where it can)")
    sync = pytest.importorskip("playwright.sync_api", reason="playwright (the test extra) is not installed")
    text = report.read_text()
    assert text.index("<h2>Summary</h2>") < text.index("<h2>Pictures</h2>") < text.index("<summary>Settings</summary>")
    assert text.index("accuracy_vs_sparsity.png") < text.index("<h2>Summary</h2>"), "the headline curves lead"
    assert "<pre" not in text, "tables are HTML tables, not a console dump"
    assert "explorer.html" in text, "the report links to the explorer"
    with sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS[1:])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth, "
                               "Math.max(...Array.from(document.querySelectorAll('table')).map(t => t.getBoundingClientRect().right))]")  # fmt: skip
        assert widths[0] == widths[1] and widths[2] <= widths[1], widths
        header = page.locator("table#summary th", has_text="params")
        column = page.evaluate(
            "() => Array.from(document.querySelectorAll('table#summary th')).findIndex(th => th.textContent === 'params')"
        )
        header.click()  # descending
        values = page.evaluate(
            f"() => Array.from(document.querySelectorAll('table#summary tbody tr')).map(r => parseFloat(r.cells[{column}].dataset.v))"
        )
        assert values == sorted(values, reverse=True) and len(values) >= 3
        assert page.evaluate("() => document.querySelector('details').open") is False
        browser.close()


def test_timing_notes_tell_a_pass_timed_once_from_noise(gnneval_run):
    """A speed-up not paired because one pass takes over 10 s is said to be timed once, and the report does not
    tell its reader to raise --bench-budget for it (a bigger budget would not pair it); noise still does."""
    import copy

    from gnneval.bench.paired import UNPAIRED
    from gnneval.core.records import BenchResult
    from gnneval.show.html_report import _timing_notes

    run = copy.deepcopy(gnneval_run)
    assert len(run.variants) >= 2
    reason = f"{UNPAIRED}: the dense model's run at the start divided by this one"
    for v in run.variants:
        v.bench = [BenchResult("torch", "cpu", 12e3, 12e3, 12e3, 1, 0, 2, 1e5, 0, noisy=True, noise=reason)]
    timed = [b for v in run.variants for b in v.bench]
    once = _timing_notes(run)
    assert "timed once" in once and UNPAIRED in once and "--bench-budget" not in once
    timed[0].noise = "95% interval ±31% wider than ±10%"
    both = _timing_notes(run)
    assert "timed once" in both and "raise --bench-budget" in both and "±31%" in both
