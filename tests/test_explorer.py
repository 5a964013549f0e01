"""The explorer in a real browser (the system Chromium driven by playwright): it loads offline with no error,
the URL selects a node and shows run.h5's facts about it, a click in one map selects it in both, hovering
rings the same node in both maps, a class filter changes the counts, and sorting the table then clicking a row
selects that node."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gnneval.plugin import VisualContext

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def explorer(gnneval_run, tmp_path_factory) -> Path:
    from gnneval._plugins.manager import build_plugin_host

    reg = build_plugin_host().registry.get("visualiser", "explorer")
    out = tmp_path_factory.mktemp("explorer")
    (path,) = reg.obj().draw(VisualContext(run=gnneval_run, out_dir=out, seed=0))
    return path


@pytest.mark.slow
def test_the_page_is_one_self_contained_file(explorer):
    import re

    text = explorer.read_text()
    assert "<script" in text and "Bokeh" in text
    # BokehJS itself names CDNs in code paths this page never takes (MathJax, icon fonts); the browser test
    # checks that no request is made. Here: no external script, stylesheet or image in the markup.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:|//)", text), "everything must be inlined"


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (.ci/setup.sh installs it where it can)")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright (the test extra) is not installed")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, path: Path, fragment: str = ""):
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    seen = {"errors": [], "requests": []}
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.goto(path.as_uri() + fragment)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length && "
                           "Bokeh.documents[0].get_model_by_name('counts').text.length > 0", timeout=30000)  # fmt: skip
    return page, seen


def _model(page, name: str, attr: str):
    return page.evaluate(f"() => Bokeh.documents[0].get_model_by_name({json.dumps(name)}).{attr}")


def _pixel(page, figure: str, node_pos: int, x: str, y: str) -> tuple[float, float]:
    return page.evaluate(f"""() => {{ const d = Bokeh.documents[0], s = d.get_model_by_name('points');
        const v = Bokeh.index.find_one(d.get_model_by_name('{figure}')), r = v.canvas_view.el.getBoundingClientRect();
        return [v.frame.x_scale.compute(s.data.{x}[{node_pos}]) + r.left + window.scrollX,
                v.frame.y_scale.compute(s.data.{y}[{node_pos}]) + r.top + window.scrollY]; }}""")


@pytest.mark.browser
@pytest.mark.slow
def test_it_loads_offline_with_no_error(browser, explorer):
    page, seen = _open(browser, explorer)
    assert not seen["errors"], seen["errors"]
    assert all(url.startswith("file:") for url in seen["requests"]), seen["requests"]
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_the_url_selects_a_node_and_shows_its_facts_from_the_run(browser, explorer, gnneval_run):
    variant = "magnitude@0.50"
    page, seen = _open(browser, explorer, f"#variant={variant}&layer=convs.0&node=7")
    details = _model(page, "details", "text")
    assert "node 7" in details
    assert f'class="cls">{int(gnneval_run.graph.y[7])}<' in details
    dense_pred = int(gnneval_run.dense.outputs.predictions[7])
    v_pred = int(gnneval_run.variant(variant).outputs.predictions[7])
    assert f'class="dpred">class {dense_pred}<' in details and f'class="vpred">class {v_pred}<' in details
    assert _model(page, "variant", "value") == variant and _model(page, "points", "selected.indices") == [7]
    assert not seen["errors"], seen["errors"]
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_click_in_one_map_selects_the_node_in_both_and_hover_rings_it_in_both(browser, explorer):
    page, _ = _open(browser, explorer)
    page.evaluate("() => window.scrollTo(0, 0)")
    xs, ys = (_model(page, "points", f"data.{c}") for c in ("xd", "yd"))
    # a node with no other node nearby on the dense map, so that the click lands on it alone
    xy = np.c_[xs, ys]
    gaps = np.sort(np.linalg.norm(xy[:, None] - xy[None], axis=2), axis=1)[:, 1]
    node = int(np.argmax(gaps))
    px, py = _pixel(page, "dense_map", node, "xd", "yd")
    page.mouse.move(px, py)
    page.wait_for_timeout(300)
    ringed = _model(page, "hover_ring", "data")
    xv = _model(page, "points", f"data.xv[{node}]")
    assert ringed["xd"] == [xs[node]] and ringed["xv"] == [xv], "hovering rings the same node in both maps"
    page.mouse.click(px, py)
    page.wait_for_timeout(300)
    assert _model(page, "points", "selected.indices") == [node]
    assert f"node {_model(page, 'points', f'data.id[{node}]')}" in _model(page, "details", "text")
    # the variant map draws the same source, so the same node is selected there
    renderers = page.evaluate("""() => { const d = Bokeh.documents[0];
        return ['dense_map', 'variant_map'].map((f) => d.get_model_by_name(f).renderers
          .filter((r) => r.data_source && r.data_source.name === 'points').map((r) => r.data_source.selected.indices)); }""")
    assert renderers == [[[node]], [[node]]]
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_class_filter_changes_the_counts(browser, explorer, gnneval_run):
    page, _ = _open(browser, explorer)
    n = gnneval_run.graph.num_nodes
    assert f"<b>{n}</b> of {n}" in _model(page, "counts", "text")
    page.evaluate("() => { Bokeh.documents[0].get_model_by_name('class_filter').active = [0]; }")
    want = int((gnneval_run.graph.y == 0).sum())
    assert f"<b>{want}</b> of {n}" in _model(page, "counts", "text")
    page.evaluate("() => { Bokeh.documents[0].get_model_by_name('flipped_only').active = [0]; }")
    flipped = _model(page, "points", "data.flipped").count("yes")
    zeros_flipped = sum(1 for c, f in zip(_model(page, "points", "data.cls"), _model(page, "points", "data.flipped"))
                        if c == 0 and f == "yes")  # fmt: skip
    assert f"<b>{zeros_flipped}</b> of {n}" in _model(page, "counts", "text") and zeros_flipped <= flipped
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_sorting_the_table_and_clicking_a_row_selects_that_node(browser, explorer):
    page, _ = _open(browser, explorer, "#variant=structured@0.50&layer=convs.0")
    header = page.locator(".slick-header-column", has_text="displacement")
    header.click()  # ascending
    header.click()  # descending: the most displaced first
    page.wait_for_timeout(300)
    page.locator(".slick-row").first.locator(".slick-cell").nth(1).click()
    page.wait_for_timeout(300)
    (picked,) = _model(page, "points", "selected.indices")
    displacement = _model(page, "points", "data.displacement")
    assert displacement[picked] == max(displacement), "the first row after sorting is the most displaced node"
    assert f"node {_model(page, 'points', f'data.id[{picked}]')}" in _model(page, "details", "text")
    page.close()


@pytest.mark.slow
def test_evaluate_passes_visualiser_options_and_the_page_states_its_sample(sbm_checkpoint, tmp_path, capsys):
    from gnneval.cli import main

    out = tmp_path / "run"
    argv = ["evaluate", str(sbm_checkpoint), "--pruner", "magnitude", "--sparsity", "0.5", "--no-bench",
            "--no-progress", "--out", str(out), "--visualisers", "explorer", "-o", "explorer.max_points=100"]  # fmt: skip
    assert main(argv) == 0
    text = (out / "explorer.html").read_text()
    assert "a seeded sample of 100 of" in text
    assert main([*argv[:-1], "explorer.nope=1", "--out", str(tmp_path / "other")]) == 2
    assert "does not accept" in capsys.readouterr().err
