"""One self-contained ``report.html`` per run: everything from the stored run, images embedded.

The page needs no network: pictures are PNGs inlined as ``data:`` URIs and the
styles are inline.  A small inline script checks on load that every image
decoded (``naturalWidth > 0``) and records the result in
``<body data-images="ok N">`` (or ``"broken K of N"``), which the tests read
from a real headless browser.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from gnneval.core.records import RunResult

CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2rem auto; max-width: 1500px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
table.kv { border-collapse: collapse; font-size: .9rem; }
table.kv td { border: 1px solid #ddd; padding: .2rem .6rem; vertical-align: top; }
table.kv td:first-child { font-weight: 600; background: #f6f6f6; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .9rem; color: #555; }
pre.rich { font-size: .8rem; overflow-x: auto; background: #fcfcfc; border: 1px solid #eee; padding: .5rem; }
.problem { color: #a33; }
"""

CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  document.body.setAttribute('data-images',
    broken.length ? ('broken ' + broken.length + ' of ' + imgs.length) : ('ok ' + imgs.length));
});
"""


def _kv(rows: dict) -> str:
    cells = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows.items())
    return f'<table class="kv">{cells}</table>'


def _fmt(v) -> str:
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else str(v)


def _rich_tables_html(run: RunResult) -> str:
    from rich.console import Console

    from gnneval.show.console import representation_table, summary_table

    console = Console(record=True, width=200, file=open("/dev/null", "w"), force_terminal=False)  # noqa: SIM115
    console.print(summary_table(run))
    rep = representation_table(run)
    if rep is not None:
        console.print(rep)
    text = console.export_text()
    console.file.close()
    return f'<pre class="rich">{html.escape(text)}</pre>'


def _similarity_table(run: RunResult) -> str:
    """The layer measures that store ``similarity`` (1 = identical to dense), for the last hidden layer."""
    variants = [v for v in run.variants if v.ok and v.id != "dense"]
    layers = list(run.dense.layer_metrics) or (list(variants[0].layer_metrics) if variants else [])
    if not layers:
        return ""
    layer = layers[-2] if len(layers) >= 2 else layers[-1]
    names = list(
        dict.fromkeys(
            k[: -len(".similarity")]
            for v in variants
            for k in v.layer_metrics.get(layer, {})
            if k.endswith(".similarity")
        )
    )
    if not names:
        return ""
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for v in variants:
        vals = v.layer_metrics.get(layer, {})
        cells = "".join(
            f"<td>{vals[f'{n}.similarity']:.3f}</td>" if f"{n}.similarity" in vals else "<td>-</td>" for n in names
        )
        rows.append(f"<tr><td>{html.escape(v.id)}</td>{cells}</tr>")
    return (
        f"<h2>Similarity to the dense model</h2><p>Layer '{html.escape(layer)}' (last hidden layer); every "
        "measure oriented so that 1 = identical (distances in [0, m] shown as 1 - d/m). Raw values, other "
        "layers and the unbounded measures are in run.h5.</p>"
        f'<table class="kv"><tr><th>variant</th>{head}</tr>{"".join(rows)}</table>'
    )


def write_report(run: RunResult, run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` from ``run`` (its ``files`` name the pictures) and return its path."""
    p = run.provenance
    g = run.graph
    title = f"gnneval report: {p.architecture} on {g.name} ({Path(p.checkpoint_path).name})"
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{CSS}</style><script>{CHECK_SCRIPT}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts.append("<h2>Model and dataset</h2>")
    parts.append(_model_and_dataset(run))
    parts.append("<h2>Settings</h2>")
    parts.append(_kv({k: v for k, v in p.settings.items() if k != "command"}))
    parts.append("<h2>Summary</h2>")
    parts.append(_rich_tables_html(run))
    parts.append(_similarity_table(run))
    if run.problems:
        parts.append("<h2>Problems</h2><ul>")
        parts.extend(
            f"<li class='problem'>{html.escape(pr.where)}: {html.escape(pr.message)}</li>" for pr in run.problems
        )
        parts.append("</ul>")
    parts.append("<h2>Pictures</h2>")
    parts.extend(_figures(run))
    parts.append("<h2>Provenance</h2>")
    parts.append(
        _kv(
            {
                "command": p.command,
                "created": p.created,
                "seed": p.seed,
                "device": p.device,
                "versions": p.versions,
                "plugins": p.plugins,
            }
        )
    )
    parts.append("</body></html>")
    out = Path(run_dir) / "report.html"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(out)
    return out


def _model_and_dataset(run: RunResult) -> str:
    p, g = run.provenance, run.graph
    return _kv(
        {
            "checkpoint": p.checkpoint_path,
            "sha256": p.checkpoint_sha256,
            "loader": p.checkpoint_loader,
            "architecture": p.architecture,
            "architecture arguments": p.architecture_kwargs,
            "task": p.task,
            "dataset": f"{g.name} ({p.dataset_loader}; {p.dataset_source})",
            "graph": f"{g.num_nodes:,} nodes, {g.num_edges:,} edges, {g.num_features:,} features, {g.num_classes} classes",
            "scores recorded in the checkpoint": p.checkpoint_metadata.get("recorded_scores", {}),
        }
    )


def _figures(run: RunResult) -> list[str]:
    """Every PNG picture of the run, inlined, with its caption."""
    parts = []
    for label, path in run.files.items():
        path = Path(path)
        if path.suffix.lower() != ".png" or not path.is_file():
            continue
        data = base64.b64encode(path.read_bytes()).decode()
        caption = run.captions.get(label, "")
        parts.append(
            f"<figure><img alt='{html.escape(label)}' src='data:image/png;base64,{data}'>"
            f"<figcaption><b>{html.escape(label)}</b> ({html.escape(path.name)}). "
            f"{html.escape(caption)}</figcaption></figure>"
        )
    return parts
