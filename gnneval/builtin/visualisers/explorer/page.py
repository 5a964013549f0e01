"""The explorer's page: Bokeh models over shared data sources (linked selection without a server), callbacks in
:mod:`.script`, everything inlined (``bokeh.resources.INLINE``) so the file opens offline."""

from __future__ import annotations

from typing import Any

import numpy as np

from gnneval.builtin.visualisers.explorer import script
from gnneval.builtin.visualisers.explorer.data import Points
from gnneval.plugin import RunResult

COLOURINGS = ("class", "flipped", "neighbourhood overlap", "displacement", "degree")


def _sources(run: RunResult, pts: Points) -> tuple[Any, dict[str, Any]]:
    from bokeh.models import ColumnDataSource

    n = len(pts.index)
    dpred = pts.dense_pred if pts.dense_pred is not None else np.full(n, -1)
    src = ColumnDataSource(
        {"id": pts.index, "cls": pts.cls, "split": pts.split, "degree": pts.degree, "dpred": dpred,
         "xd": np.zeros(n), "yd": np.zeros(n), "xv": np.zeros(n), "yv": np.zeros(n), "vpred": np.full(n, -1),
         "flipped": ["no"] * n, "jaccard": np.ones(n), "displacement": np.zeros(n), "color": ["#999999"] * n},
        name="points",
    )  # fmt: skip
    maps = {}
    for layer, by_variant in pts.layers.items():
        for vid, e in by_variant.items():
            cols = {"x": e["x"], "y": e["y"], "jaccard": e["jaccard"], "displacement": e["displacement"]}
            if e["pred"] is not None:
                cols["pred"] = e["pred"]
            maps[f"{layer}|{vid}"] = ColumnDataSource(cols)
    return src, maps


def _adjacency(run: RunResult, pts: Points) -> tuple[np.ndarray, np.ndarray]:
    """CSR of the graph among the points (node level; empty for graph classification)."""
    if pts.kind != "node" or not run.graph.edge_index.size:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pos = np.full(run.graph.num_nodes, -1)
    pos[pts.index] = np.arange(len(pts.index))
    src, dst = pos[run.graph.edge_index[0]], pos[run.graph.edge_index[1]]
    keep = (src >= 0) & (dst >= 0) & (src != dst)
    src, dst = src[keep], dst[keep]
    order = np.argsort(src, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=len(pts.index)))])
    return ptr, dst[order]


def _figures(src: Any, view: Any, hl: Any, edges: Any) -> tuple[Any, Any]:
    from bokeh.plotting import figure

    tools = "pan,wheel_zoom,box_select,lasso_select,tap,reset,save"
    dfig = figure(title="dense", tools=tools, output_backend="webgl", width=560, height=520, name="dense_map",
                  active_scroll="wheel_zoom", match_aspect=True)  # fmt: skip
    vfig = figure(title="variant", tools=tools, output_backend="webgl", width=560, height=520, name="variant_map",
                  x_range=dfig.x_range, y_range=dfig.y_range, active_scroll="wheel_zoom")  # fmt: skip
    for fig, x, y in ((dfig, "xd", "yd"), (vfig, "xv", "yv")):
        fig.segment(x0=f"{x}0", y0=f"{y}0", x1=f"{x}1", y1=f"{y}1", source=edges, color="#444444", alpha=0.5)
        fig.scatter(x, y, source=src, view=view, color="color", size=5, alpha=0.8, line_color=None,
                    selection_color="color", selection_line_color="black", nonselection_alpha=0.15,
                    name=f"points_{x}")  # fmt: skip
        fig.scatter(x, y, source=hl, size=14, fill_color=None, line_color="black", line_width=2)
        fig.xaxis.axis_label, fig.yaxis.axis_label = "UMAP 1 (aligned to dense)", "UMAP 2"
    return dfig, vfig


def _table(src: Any, view: Any, pts: Points) -> Any:
    from bokeh.models import DataTable, NumberFormatter, TableColumn

    three = NumberFormatter(format="0.000")
    cols = [TableColumn(field="id", title=pts.kind), TableColumn(field="cls", title="class"),
            TableColumn(field="split", title="split"), TableColumn(field="degree", title="degree" if pts.kind == "node"
                                                                   else "nodes"),
            TableColumn(field="dpred", title="dense pred"), TableColumn(field="vpred", title="variant pred"),
            TableColumn(field="flipped", title="flipped"),
            TableColumn(field="jaccard", title="kNN overlap", formatter=three),
            TableColumn(field="displacement", title="displacement", formatter=NumberFormatter(format="0.00"))]  # fmt: skip
    return DataTable(source=src, view=view, columns=cols, sortable=True, selectable=True, width=1120, height=300,
                     name="table")  # fmt: skip


def build(run: RunResult, pts: Points, sample_note: str) -> Any:
    """The explorer's Bokeh document: the layout, and what runs once the page has loaded (the URL's state)."""
    from bokeh.document import Document
    from bokeh.events import DocumentReady
    from bokeh.layouts import column, row
    from bokeh.models import (
        BooleanFilter,
        CDSView,
        CheckboxGroup,
        ColumnDataSource,
        Div,
        RangeSlider,  # fmt: skip
        Select,
        TextInput,
    )

    src, maps = _sources(run, pts)
    filt = BooleanFilter(booleans=[True] * len(pts.index))
    view = CDSView(filter=filt)
    hl = ColumnDataSource({"xd": [], "yd": [], "xv": [], "yv": []}, name="hover_ring")
    edges = ColumnDataSource({k: [] for k in ("xd0", "yd0", "xd1", "yd1", "xv0", "yv0", "xv1", "yv1")}, name="edges")
    ptr, idx = _adjacency(run, pts)
    dfig, vfig = _figures(src, view, hl, edges)
    layers = list(pts.layers)
    variants = [v.id for v in run.variants if v.id != "dense" and v.ok] or ["dense"]
    class_values = sorted({int(c) for c in pts.cls})
    m = dict(src=src, maps=maps, filter=filt, hl=hl, edges=edges, dfig=dfig, vfig=vfig,
             adj_ptr=ColumnDataSource({"p": ptr}), adj_idx=ColumnDataSource({"j": idx}),
             layer=Select(title="layer", value=_default_layer(run, layers), options=layers, name="layer"),
             variant=Select(title="variant", value=variants[0], options=variants, name="variant"),
             colour=Select(title="colour by", value="class", options=list(COLOURINGS), name="colour"),
             classes=CheckboxGroup(labels=[f"class {c}" for c in class_values], active=list(range(len(class_values))),
                                   inline=True, name="class_filter"),
             class_values=class_values, split=Select(title="split", value="all",
                                                     options=["all", "train", "val", "test", "none"], name="split"),
             degree=RangeSlider(title="degree" if pts.kind == "node" else "nodes", start=0,
                                end=max(1, int(pts.degree.max(initial=1))), value=(0, max(1, int(pts.degree.max(initial=1)))),
                                step=1, name="degree"),
             flipped_only=CheckboxGroup(labels=["flipped predictions only"], active=[], name="flipped_only"),
             search=TextInput(title=f"{pts.kind} id", placeholder="e.g. 123", name="search"),
             counts=Div(name="counts"), details=Div(name="details", width=1120), kind=pts.kind,
             sample_note=sample_note, class_prefix="class ", degree_label="degree" if pts.kind == "node" else "nodes")  # fmt: skip
    _wire(m, dfig, vfig)
    controls = row(m["variant"], m["layer"], m["colour"], m["split"], m["degree"], m["search"])
    filters = row(m["classes"], m["flipped_only"], m["counts"])
    doc = Document()
    doc.add_root(column(_header(run, pts), controls, filters, row(dfig, vfig), m["details"], _table(src, view, pts)))
    doc.js_on_event(DocumentReady, m.pop("on_load"))
    return doc


def _default_layer(run: RunResult, layers: list[str]) -> str:
    shown = run.shown_layer()
    return shown if shown in layers else layers[-1]


def _wire(m: dict[str, Any], dfig: Any, vfig: Any) -> None:
    from bokeh.models import CustomJS, HoverTool

    for name in ("layer", "variant"):
        m[name].js_on_change("value", CustomJS(args=dict(m=m), code=script.ON_VIEW))
    m["colour"].js_on_change("value", CustomJS(args=dict(m=m), code=script.ON_COLOUR))
    for name, attr in (("split", "value"), ("degree", "value"), ("classes", "active"), ("flipped_only", "active")):
        m[name].js_on_change(attr, CustomJS(args=dict(m=m), code=script.ON_FILTER))
    m["search"].js_on_change("value", CustomJS(args=dict(m=m), code=script.ON_SEARCH))
    m["src"].selected.js_on_change("indices", CustomJS(args=dict(m=m), code=script.ON_SELECT))
    tips = [("id", "@id"), ("class", "@cls"), ("split", "@split"), ("dense pred", "@dpred"), ("variant pred", "@vpred"),
            ("kNN overlap", "@jaccard{0.000}"), ("displacement", "@displacement{0.00}")]  # fmt: skip
    for fig, name in ((dfig, "points_xd"), (vfig, "points_xv")):
        renderers = [r for r in fig.renderers if r.name == name]
        fig.add_tools(HoverTool(renderers=renderers, tooltips=tips,
                                callback=CustomJS(args=dict(m=m), code=script.ON_HOVER)))  # fmt: skip
    m["on_load"] = CustomJS(args=dict(m=m), code=script.ON_LOAD)


def _header(run: RunResult, pts: Points) -> Any:
    from bokeh.models import Div

    p = run.provenance
    text = (f"<h2>gnneval explorer: {p.architecture} on {run.graph.name}</h2><p>The dense model's map (left) beside "
            f"a variant's (right), one point per {pts.kind}; each variant's map starts from the dense layout and is "
            "aligned to it (orthogonal Procrustes), so a point sits where it did unless pruning moved it. Hover, tap or "
            "box/lasso-select in either map: the same points are highlighted in both and in the table. "
            "<b>kNN overlap</b>: Jaccard index of the point's 10 nearest neighbours (cosine) in the variant's layer "
            "and in the dense model's; <b>displacement</b>: how far the point moved on the map against its 10 dense-map "
            "neighbours' mean move, in units of its mean distance to them (0: it moved with its neighbourhood). "
            "Share a view: <code>#variant=...&amp;layer=...&amp;node=123</code>.</p>")  # fmt: skip
    if len(run.seeds) > 1:
        text += (f"<p>Seeds {', '.join(map(str, run.seeds))} were repeated: a repeated variant's map and "
                 "predictions are its first repeat's; its scores are the repeats' means.</p>")  # fmt: skip
    return Div(text=text, width=1120, name="header")
