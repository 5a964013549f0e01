"""``explorer``: an interactive, offline ``explorer.html`` comparing the dense model's and each variant's maps of
the same nodes (or graphs), linked, with a sortable table of what changed most.  Drawn from run.h5 alone."""

from __future__ import annotations

from pathlib import Path

from gnneval.builtin.visualisers.explorer.data import fill_layers, points
from gnneval.plugin import VisualContext, Visualiser, hookimpl


class Explorer(Visualiser):
    """An interactive explorer in one self-contained offline HTML file (Bokeh, inlined): the dense model's map
    beside any variant's, for any stored layer, on aligned UMAP layouts; hover, tap or lasso in one map and the
    same nodes light up in the other and in a sortable table; colour and filter by class, split, degree,
    flipped prediction and neighbourhood change; the view is shareable through the URL fragment.

    Args:
        max_points: points shown at most; above it a seeded sample (said on the page).
    """

    rank = 5

    caption = ("explorer.html: the dense model's map beside each variant's, every layer, linked hover and selection, "
               "filters and a sortable table of the nodes that changed most; opens offline.")  # fmt: skip

    def __init__(self, *, max_points: int = 20_000) -> None:
        super().__init__()
        self.max_points = int(max_points)

    def draw(self, ctx: VisualContext) -> list[Path]:
        from bokeh.embed import file_html
        from bokeh.resources import INLINE

        from gnneval.builtin.visualisers.explorer.page import build

        run = ctx.run.summarised()  # --seeds: one row per variant, its repeats' mean and spread
        if run.dense.outputs is None or not run.dense.outputs.embeddings:
            return []
        pts = points(run, self.max_points, ctx.seed)
        fill_layers(run, pts, ctx.seed)
        if not pts.layers:
            return []
        note = (f" (a seeded sample of {len(pts.index):,} of {pts.total:,} {pts.kind}s, seed {ctx.seed})"
                if len(pts.index) < pts.total else "")  # fmt: skip
        stored = run.graph.embedding_nodes if pts.kind == "node" else None
        if stored is not None:  # --store-embeddings sample: the points come from the stored nodes
            note = (f" (of the {len(stored):,} of {pts.total:,} nodes whose embeddings the run stored, "
                    f"--store-embeddings sample{f'; a seeded sample of them, seed {ctx.seed}' if len(pts.index) < len(stored) else ''})")  # fmt: skip
        html = file_html(build(run, pts, note), INLINE, title=f"gnneval explorer: {run.provenance.architecture} "
                         f"on {run.graph.name}")  # fmt: skip
        out = Path(ctx.out_dir) / "explorer.html"
        out.write_text(html, encoding="utf-8")
        return [out]


@hookimpl
def gnneval_register_visualisers(register):
    register.add_visualiser(
        "explorer", Explorer, description="interactive offline explorer: dense and variant maps linked, every layer"
    )
