"""The explorer's JavaScript: plain functions every Bokeh callback shares (defined once on ``window``), run
offline in the browser with the run's data already in the page."""

PRELUDE = r"""
const gx = window.gnnevalExplorer || (window.gnnevalExplorer = (() => {
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
                   "#999999", "#882255", "#44AA99", "#117733"];
  const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58",
                   "#b5de2b", "#fde725"];
  const ramp = (t) => VIRIDIS[Math.max(0, Math.min(VIRIDIS.length - 1, Math.floor(t * VIRIDIS.length)))];
  const quantile = (a, q) => { const s = Array.from(a).filter(Number.isFinite).sort((x, y) => x - y);
                               return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : 1; };
  function colours(d, mode) {
    const n = d.id.length, out = new Array(n);
    if (mode === "class") for (let i = 0; i < n; i++) out[i] = PALETTE[d.cls[i] % PALETTE.length];
    else if (mode === "flipped") for (let i = 0; i < n; i++) out[i] = d.flipped[i] === "yes" ? "#D55E00" : "#BBBBBB";
    else if (mode === "neighbourhood overlap") for (let i = 0; i < n; i++) out[i] = ramp(1 - d.jaccard[i]);
    else if (mode === "displacement") { const top = quantile(d.displacement, 0.95) || 1;
      for (let i = 0; i < n; i++) out[i] = ramp(d.displacement[i] / top); }
    else { const top = Math.log1p(quantile(d.degree, 0.99)) || 1;
      for (let i = 0; i < n; i++) out[i] = ramp(Math.log1p(d.degree[i]) / top); }
    return out;
  }
  function show(m) {  // the chosen variant and layer into the points' source, then colours, filter, details
    const layer = m.layer.value, vid = m.variant.value, d = Object.assign({}, m.src.data);
    const dense = m.maps[layer + "|dense"], v = m.maps[layer + "|" + vid];
    d.xd = dense.data.x; d.yd = dense.data.y;
    const n = d.id.length;
    d.xv = v ? v.data.x : new Array(n).fill(NaN); d.yv = v ? v.data.y : new Array(n).fill(NaN);
    d.vpred = v && v.data.pred ? v.data.pred : new Array(n).fill(-1);
    d.jaccard = v ? v.data.jaccard : new Array(n).fill(NaN);
    d.displacement = v ? v.data.displacement : new Array(n).fill(NaN);
    d.flipped = Array.from(d.vpred, (p, i) => (p >= 0 && d.dpred[i] >= 0 && p !== d.dpred[i]) ? "yes" : "no");
    d.color = colours(d, m.colour.value);
    m.src.data = d;
    m.vfig.title.text = v ? `${vid}, layer ${layer}` : `${vid} has no layer ${layer}`;
    m.dfig.title.text = `dense, layer ${layer}`;
    refilter(m); details(m); writeHash(m);
  }
  function refilter(m) {
    const d = m.src.data, n = d.id.length, classes = new Set(m.classes.active.map((k) => m.class_values[k]));
    const split = m.split.value, [lo, hi] = m.degree.value, flippedOnly = m.flipped_only.active.length > 0;
    const keep = new Array(n);
    let count = 0;
    for (let i = 0; i < n; i++) {
      keep[i] = classes.has(d.cls[i]) && (split === "all" || d.split[i] === split) && d.degree[i] >= lo &&
                d.degree[i] <= hi && (!flippedOnly || d.flipped[i] === "yes");
      if (keep[i]) count++;
    }
    m.filter.booleans = keep;
    m.counts.text = `showing <b>${count}</b> of ${n} ${m.kind}s` + m.sample_note;
  }
  function fmt(x, digits) { return Number.isFinite(x) ? x.toFixed(digits) : "-"; }
  function details(m) {
    const d = m.src.data, sel = m.src.selected.indices;
    drawEdges(m, sel);
    if (!sel.length) { m.details.text = `<i>hover, tap, or box-select a ${m.kind}; its details show here</i>`; return; }
    const i = sel[0], name = (p) => (p >= 0 ? `${m.class_prefix}${p}` : "-");
    m.details.text = `<b>${m.kind} ${d.id[i]}</b>` + (sel.length > 1 ? ` (and ${sel.length - 1} more selected)` : "") +
      `<br>class: <span class="cls">${d.cls[i]}</span> · split: ${d.split[i]} · ${m.degree_label}: ${d.degree[i]}` +
      `<br>dense prediction: <span class="dpred">${name(d.dpred[i])}</span> · ${m.variant.value} prediction: ` +
      `<span class="vpred">${name(d.vpred[i])}</span> · flipped: <span class="flipped">${d.flipped[i]}</span>` +
      `<br>kNN overlap with dense: ${fmt(d.jaccard[i], 3)} · displacement relative to its neighbours: ` +
      `${fmt(d.displacement[i], 2)}`;
    writeHash(m);
  }
  function drawEdges(m, sel) {
    const d = m.src.data, ptr = m.adj_ptr.data.p, idx = m.adj_idx.data.j;
    const e = {xd0: [], yd0: [], xd1: [], yd1: [], xv0: [], yv0: [], xv1: [], yv1: []};
    if (ptr.length && sel.length && sel.length <= 50) for (const i of sel) for (let k = ptr[i]; k < ptr[i + 1]; k++) {
      const j = idx[k];
      e.xd0.push(d.xd[i]); e.yd0.push(d.yd[i]); e.xd1.push(d.xd[j]); e.yd1.push(d.yd[j]);
      e.xv0.push(d.xv[i]); e.yv0.push(d.yv[i]); e.xv1.push(d.xv[j]); e.yv1.push(d.yv[j]);
    }
    m.edges.data = e;
  }
  function writeHash(m) {
    const sel = m.src.selected.indices, parts = [`variant=${encodeURIComponent(m.variant.value)}`,
                                                  `layer=${encodeURIComponent(m.layer.value)}`];
    if (sel.length) parts.push(`node=${m.src.data.id[sel[0]]}`);
    try { history.replaceState(null, "", "#" + parts.join("&")); } catch (err) { /* file:// in some browsers */ }
  }
  function select(m, id) {
    const i = m.src.data.id.indexOf(Number(id));
    if (i >= 0) m.src.selected.indices = [i];
    return i >= 0;
  }
  function fromHash(m) {
    const h = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    if (h.get("layer") && m.layer.options.includes(h.get("layer"))) m.layer.value = h.get("layer");
    if (h.get("variant") && m.variant.options.includes(h.get("variant"))) m.variant.value = h.get("variant");
    show(m);
    if (h.get("node") !== null) select(m, h.get("node"));
  }
  function hover(m, indices) {
    const d = m.src.data, i = indices.length ? indices[0] : -1;
    m.hl.data = i < 0 ? {xd: [], yd: [], xv: [], yv: []} : {xd: [d.xd[i]], yd: [d.yd[i]], xv: [d.xv[i]], yv: [d.yv[i]]};
  }
  return {show, refilter, details, select, fromHash, hover, colours};
})());
"""

ON_LOAD = PRELUDE + "gx.fromHash(m);"
ON_VIEW = PRELUDE + "gx.show(m);"
ON_FILTER = PRELUDE + "gx.refilter(m);"
ON_COLOUR = (
    PRELUDE + "const d = Object.assign({}, m.src.data); d.color = gx.colours(d, m.colour.value); m.src.data = d;"
)
ON_SELECT = PRELUDE + "gx.details(m);"
ON_SEARCH = PRELUDE + "if (!gx.select(m, m.search.value)) m.details.text = `no ${m.kind} ${m.search.value} here`;"
ON_HOVER = PRELUDE + "gx.hover(m, cb_data.index.indices);"
