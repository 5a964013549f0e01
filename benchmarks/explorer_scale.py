"""Benchmark: the explorer at 100,000 nodes per panel — how long it takes to draw, how big the file is, and how
long the system Chromium takes to open it and to answer a filter, a selection and a variant switch.

    .venv/bin/python benchmarks/explorer_scale.py                  # 100,000 nodes
    .venv/bin/python benchmarks/explorer_scale.py --nodes 20000    # another size

A 2-layer GCN (hidden 32) is trained briefly on the built-in seeded SBM graph of that size and evaluated with
``magnitude`` at 50% (no timing, the default metrics), then the explorer is drawn with ``max_points`` equal to
the graph's size (no sample) and opened headless in Chromium (software rendering, no GPU: a laptop with a GPU
does better). Every figure printed is measured in this one run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def make_run(nodes: int, out: Path) -> Path:
    from gnneval.builtin.datasets.synthetic import make_sbm
    from gnneval.cli import main
    from gnneval.plugin import DatasetRef, GraphData
    from gnneval.store.checkpoints import save_checkpoint
    from gnneval.testing import small_model

    options = {"nodes": nodes, "blocks": 8, "avg_degree": 10.0, "features": 32}
    graph = GraphData("sbm", "node-classification", make_sbm(seed=0, **options), 32, 8, "generated")
    model = small_model(graph, hidden=32, epochs=30)
    kwargs = {"in_channels": 32, "hidden_channels": 32, "out_channels": 8, "num_layers": 2}
    ckpt = save_checkpoint(out / "gcn_sbm.pt", model=model, architecture="gcn", architecture_kwargs=kwargs,
                           task="node-classification", dataset=DatasetRef("sbm", loader="sbm", options=options),
                           metrics={}, training={"seed": 0, "epochs": 30})  # fmt: skip
    t0 = time.perf_counter()
    code = main(["evaluate", str(ckpt), "--pruner", "magnitude", "--sparsity", "0.5", "--no-bench", "--no-progress",
                 "--out", str(out / "run"), "--visualisers", "explorer", "-o", f"explorer.max_points={nodes}"])  # fmt: skip
    assert code == 0
    print(f"evaluate + explorer drawing: {time.perf_counter() - t0:.1f} s")
    return out / "run" / "explorer.html"


def open_in_browser(page_path: Path) -> dict:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        t0 = time.perf_counter()
        page.goto(page_path.as_uri())
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length && "
                               "Bokeh.documents[0].get_model_by_name('counts').text.length > 0", timeout=600_000)  # fmt: skip
        page.evaluate("() => new Promise(requestAnimationFrame)")
        opened = time.perf_counter() - t0
        timings = page.evaluate("""async () => {
          const d = Bokeh.documents[0], frame = () => new Promise(requestAnimationFrame), out = {};
          let t = performance.now(); d.get_model_by_name('class_filter').active = [0, 1, 2]; await frame(); await frame();
          out.filter_ms = performance.now() - t;
          t = performance.now(); d.get_model_by_name('points').selected.indices = [17]; await frame(); await frame();
          out.select_ms = performance.now() - t;
          t = performance.now(); d.get_model_by_name('colour').value = 'displacement'; await frame(); await frame();
          out.colour_ms = performance.now() - t;
          const fig = d.get_model_by_name('dense_map'), xr = fig.x_range, w = xr.end - xr.start;
          t = performance.now(); xr.setv({start: xr.start + 0.1 * w, end: xr.end + 0.1 * w}); await frame(); await frame();
          out.pan_ms = performance.now() - t;
          t = performance.now(); d.get_model_by_name('hover_ring').data = {xd: [0], yd: [0], xv: [0], yv: [0]};
          await frame(); await frame(); out.hover_ms = performance.now() - t;
          const layer = d.get_model_by_name('layer'); t = performance.now();
          layer.value = layer.options.find((o) => o !== layer.value);
          await frame(); await frame(); out.switch_layer_ms = performance.now() - t;
          return out; }""")
        browser.close()
    return {"open_s": round(opened, 2), **{k: round(v) for k, v in timings.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        page = make_run(args.nodes, Path(tmp))
        size = page.stat().st_size
        result = {"nodes": args.nodes, "file_mb": round(size / 2**20, 1), **open_in_browser(page)}
    print(json.dumps(result))
    print(f"{args.nodes:,} nodes per panel: explorer.html {result['file_mb']} MiB; opens in {result['open_s']} s; "
          f"class filter {result['filter_ms']} ms, selection {result['select_ms']} ms, recolour "
          f"{result['colour_ms']} ms, pan {result['pan_ms']} ms, hover ring {result['hover_ms']} ms, layer switch "
          f"{result['switch_layer_ms']} ms (headless Chromium, software rendering)")  # fmt: skip


if __name__ == "__main__":
    main()
