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
import re
from pathlib import Path

from rich.text import Text

from gnneval.core.records import RunResult
from gnneval.show.console import repeat_notes, representation_columns, summary_columns

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
table.results { border-collapse: collapse; font-size: .82rem; margin: .5rem 0 1rem; }
table.results th, table.results td { border-bottom: 1px solid #e4e4e4; padding: .25rem .45rem; white-space: nowrap;
                                     text-align: right; }
table.results th { background: #f3f3f3; cursor: pointer; position: sticky; top: 0; user-select: none; }
table.results th:first-child, table.results td:first-child { text-align: left; }
table.results th.sorted-asc::after { content: " \\25B2"; } table.results th.sorted-desc::after { content: " \\25BC"; }
table.results td.failed { color: #a33; }
p.lead { font-size: 1rem; } .note { color: #555; font-size: .85rem; }
details { margin: 1rem 0; } summary { cursor: pointer; font-weight: 600; }
"""

SORT_SCRIPT = """
document.addEventListener('click', function (e) {
  var th = e.target.closest('table.results th');
  if (!th) return;
  var table = th.closest('table'), col = Array.prototype.indexOf.call(th.parentNode.children, th);
  var desc = !th.classList.contains('sorted-desc');
  Array.prototype.forEach.call(th.parentNode.children, function (h) { h.classList.remove('sorted-asc', 'sorted-desc'); });
  th.classList.add(desc ? 'sorted-desc' : 'sorted-asc');
  var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
  function key(r) { var c = r.cells[col], v = c.getAttribute('data-v');
                    return v !== null && v !== '' ? parseFloat(v) : c.textContent; }
  rows.sort(function (a, b) { var x = key(a), y = key(b);
    var r = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
    return desc ? -r : r; });
  rows.forEach(function (r) { body.appendChild(r); });
});
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


def _similarity_table(run: RunResult) -> str:
    """The layer measures that store ``similarity`` (1 = identical to dense), for the last hidden layer."""
    variants = [v for v in run.summarised().variants if v.ok and v.id != "dense"]
    layer = run.shown_layer()
    if layer is None:
        return ""
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
            f"<td>{_with_sd(vals[f'{n}.similarity'], v.spread.get(f'{layer}/{n}.similarity'))}</td>"
            if f"{n}.similarity" in vals
            else "<td>-</td>"
            for n in names
        )
        rows.append(f"<tr><td>{html.escape(v.id)}</td>{cells}</tr>")
    return (
        f"<h2>Similarity to the dense model</h2><p>Layer '{html.escape(layer)}' ({run.layer_role(layer)}); every "
        "measure oriented so that 1 = identical (distances in [0, m] shown as 1 - d/m). Raw values, other "
        "layers and the unbounded measures are in run.h5.</p>"
        f'<table class="results"><thead><tr><th>variant</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _with_sd(value: float, spread) -> str:
    return f"{value:.3f}" if spread is None or spread.n < 2 else f"{value:.3f} ±{spread.sd:.3f}"


def write_report(run: RunResult, run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` from ``run`` (its ``files`` name the pictures) and return its path: the
    results first, then the pictures by their visualisers' ``rank``, the problems, and the details collapsed."""
    p, g = run.provenance, run.graph
    title = f"gnneval report: {p.architecture} on {g.name} ({Path(p.checkpoint_path).name})"
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{CSS}</style><script>{CHECK_SCRIPT}{SORT_SCRIPT}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _lead(run),
    ]
    figures = _figures(run)
    parts += figures[:1]  # the headline curves before the numbers behind them
    parts += [
        "<h2>Summary</h2>",
        _results_table(summary_columns(run), "summary"),
        _repeat_note(run),
        _timing_notes(run),
    ]
    found = representation_columns(run)
    if found is not None:
        layer, cols, present = found
        parts += [f"<h2>Representation quality of layer '{html.escape(layer)}' ({run.layer_role(layer)})</h2>",
                  _results_table(cols, "representation"),
                  "<p class='note'>" + html.escape("; ".join(f"{c.label}: {c.help}" for c in present if c.help))
                  + ("; ±: sample sd over the seeds' repeats" if len(run.seeds) > 1 else "")
                  + "; every layer's values are in run.h5.</p>"]  # fmt: skip
    parts.append(_similarity_table(run))
    parts += _problems(run)
    parts += ["<h2>Pictures</h2>", *figures[1:]]
    parts += ["<h2>Model and dataset</h2>", _model_and_dataset(run)]
    parts += ["<details><summary>Settings</summary>", _kv({k: v for k, v in p.settings.items() if k != "command"}),
              "</details>", "<details><summary>Provenance</summary>", _provenance(run), "</details>"]  # fmt: skip
    parts.append("</body></html>")
    out = Path(run_dir) / "report.html"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(out)
    return out


def _lead(run: RunResult) -> str:
    p, g = run.provenance, run.graph
    pruned = [v for v in run.summarised().variants if v.id != "dense"]
    failed = [v.id for v in run.variants if v.id != "dense" and not v.ok]
    pages = [Path(f).name for label, f in sorted(run.files.items(), key=lambda kv: run.ranks.get(kv[0], 100))
             if Path(f).suffix.lower() == ".html" and Path(f).name != "report.html"]  # fmt: skip
    link = (" Interactive: " + ", ".join(f"<a href='{html.escape(n)}'>{html.escape(n)}</a>" for n in pages)
            + " (beside this file; they open offline)." if pages else "")  # fmt: skip
    return (f"<p class='lead'>{len(pruned)} pruned variant(s) of the {html.escape(p.architecture)} in "
            f"<code>{html.escape(p.checkpoint_path)}</code> (sha256 {p.checkpoint_sha256[:12]}), evaluated on "
            f"{html.escape(g.name)} ({g.num_nodes:,} nodes, {g.num_edges:,} edges) on {html.escape(p.device)}, "
            + (f"seeds {', '.join(map(str, run.seeds))} (each seeded variant once per seed)" if len(run.seeds) > 1
               else f"seed {p.seed}") + (f"; <span class='problem'>failed: {html.escape(', '.join(failed))}</span>" if failed else "")
            + f".{link}</p>")  # fmt: skip


def _results_table(cols: list, name: str) -> str:
    """A sortable HTML table of console columns: click a header to sort (numbers by value)."""
    head = "".join(f"<th>{html.escape(c.header)}</th>" for c in cols)
    rows = []
    for cells in zip(*(c.cells for c in cols)):
        tds = []
        for cell in cells:
            text = Text.from_markup(cell).plain
            cls = " class='failed'" if text == "failed" else ""
            tds.append(f"<td data-v='{_sort_value(text)}'{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table class='results' id='{name}'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _sort_value(text: str) -> str:
    """The number a cell sorts by (``80.8%`` -> 80.8, ``1.52x±0.03`` -> 1.52, ``92,231`` -> 92231), or ''."""
    m = re.match(r"^\s*([+-]?[\d,]*\.?\d+)", text)
    if not m:
        return ""
    value = float(m.group(1).replace(",", ""))
    scale = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}.get(text.split()[-1] if " " in text else "", 1)
    return repr(value * scale)


def _repeat_note(run: RunResult) -> str:
    """What ``± sd (n)`` and ``once`` mean in a run that repeated seeds (``--seeds``)."""
    notes = repeat_notes(run)
    return f"<p class='note'>{html.escape('; '.join(notes))}.</p>" if notes else ""


def _timing_notes(run: RunResult) -> str:
    """Why any timing was flagged noisy, each figure by name (the reasons ``run.h5`` stores)."""
    flagged = [(v.id, b) for v in run.variants for b in v.bench if b.noisy]
    timed = any(v.bench for v in run.variants)
    if not flagged:
        return "<p class='note'>Speed-ups (×) are dense latency over the variant's, timed interleaved with the dense " \
               "model (ABBA pairs): the median per-pair ratio ± its 95% interval." + \
               ("" if timed else " Nothing was timed in this run (--no-bench).") + "</p>"  # fmt: skip
    from gnneval.bench.paired import unpaired

    by_reason: dict[str, list[str]] = {}
    for vid, b in flagged:  # one line per reason, the figures it flagged after it
        by_reason.setdefault(b.noise or "noisy", []).append(f"{vid} on {b.backend}")
    once = {r: f for r, f in by_reason.items() if unpaired(r)}
    noisy = {r: f for r, f in by_reason.items() if r not in once}
    parts = []
    if once:  # not noise: a pass this long is timed once, and a bigger budget would not pair it
        parts.append(f"<p class='note'>Figures marked ~ are timed once, without an interval:</p>{_reason_list(once)}")
    if noisy:
        parts.append("<p class='problem'>Figures marked ~ were flagged noisy and should not be trusted; raise "
                     f"--bench-budget or time on a quieter machine:</p>{_reason_list(noisy)}")  # fmt: skip
    return "".join(parts)


def _reason_list(by_reason: dict[str, list[str]]) -> str:
    """A reason per item, the figures it flagged after it."""
    items = "".join(f"<li>{html.escape(reason)}: {html.escape(', '.join(figures))}</li>"
                    for reason, figures in by_reason.items())  # fmt: skip
    return f"<ul>{items}</ul>"


def _problems(run: RunResult) -> list[str]:
    if not run.problems:
        return []
    items = "".join(
        f"<li class='problem'>{html.escape(pr.where)}: {html.escape(pr.message)}</li>" for pr in run.problems
    )
    return [f"<h2>Problems ({len(run.problems)})</h2><ul>{items}</ul>"]


def _provenance(run: RunResult) -> str:
    p = run.provenance
    return _kv({"command": p.command, "created": p.created, "seed": p.seed, "device": p.device,
                "resolved": p.resolved, "versions": p.versions, "plugins": p.plugins})  # fmt: skip


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
    """Every PNG picture of the run, inlined, with its caption, in its visualiser's ``rank`` order."""
    parts = []
    for label, path in sorted(run.files.items(), key=lambda kv: (run.ranks.get(kv[0], 100), kv[0])):
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
