"""DGL's layers read as the torch_geometric layers that compute the same function (DGL, the other major GNN
library, names and shapes its tensors its own way).  Every mapping is a note, printed and stored:

============================  ================================================  ==========================
DGL (``dgl.nn.pytorch``)      tensors                                           torch_geometric
============================  ================================================  ==========================
``GraphConv`` (norm='both')   ``weight`` [in, out], ``bias``                    ``GCNConv``: ``lin.weight`` =
                                                                                ``weight``ᵀ, ``bias``
``GATConv``                   ``fc.weight`` [H·C, in], ``attn_l``/``attn_r``    ``GATConv``: ``lin.weight``,
                              [1, H, C], ``bias`` [H·C]                         ``att_src``/``att_dst``, ``bias``
``SAGEConv`` ('mean')         ``fc_self.weight``, ``fc_neigh.weight``, ``bias``  ``SAGEConv``: ``lin_r``, ``lin_l``
                                                                                (its bias: DGL's biases summed)
``GINConv``                   ``apply_func.*``, ``eps``                         ``GINConv``: ``nn.*``, ``eps``
============================  ================================================  ==========================

DGL's ``GraphConv`` and ``GATConv`` add no self-loops (its examples add them to the graph,
``dgl.add_self_loop``); torch_geometric's add them.  Whether the model saw them is undecided by the tensors:
the run tries both (``self_loops``), as every other undecided choice.
"""

from __future__ import annotations

import re
from typing import Any

GRAPHCONV_PATH = re.compile(r"^(?:.*\.)?(?:layers|gcn_layers|convs|gcns|gnn_layers)\.\d+$|^(?:.*\.)?(?:conv|gcn)\d*$")
"""Module paths DGL models keep their ``GraphConv`` layers under (``layers.0`` in DGL's own GCN example)."""


def from_dgl(state: dict[str, Any], notes: list[str]) -> tuple[dict[str, Any], bool]:
    """``state`` with DGL layers renamed to their torch_geometric equivalents, and whether any was."""
    out = dict(state)
    mapped = [*_gat(out), *_sage(out), *_gin(out), *_graphconv(out)]
    if mapped:
        notes.append("DGL layers read as torch_geometric's: " + "; ".join(mapped))
    return out, bool(mapped)


def _gat(out: dict[str, Any]) -> list[str]:
    done = []
    for key in [k for k in out if k.endswith(".attn_l")]:
        p = key[: -len(".attn_l")]
        if f"{p}.fc.weight" not in out or f"{p}.attn_r" not in out:
            continue
        out[f"{p}.lin.weight"] = out.pop(f"{p}.fc.weight")
        out[f"{p}.att_src"], out[f"{p}.att_dst"] = out.pop(f"{p}.attn_l"), out.pop(f"{p}.attn_r")
        done.append(f"{p} GATConv (fc -> lin, attn_l/attn_r -> att_src/att_dst)")
    return done


def _sage(out: dict[str, Any]) -> list[str]:
    done = []
    for key in [k for k in out if k.endswith(".fc_neigh.weight")]:
        p = key[: -len(".fc_neigh.weight")]
        if f"{p}.fc_self.weight" not in out:
            continue
        out[f"{p}.lin_l.weight"], out[f"{p}.lin_r.weight"] = out.pop(key), out.pop(f"{p}.fc_self.weight")
        biases = [
            b for b in (out.pop(f"{p}.{n}", None) for n in ("bias", "fc_self.bias", "fc_neigh.bias")) if b is not None
        ]
        if biases:
            out[f"{p}.lin_l.bias"] = sum(biases[1:], biases[0].clone())
        done.append(f"{p} SAGEConv (fc_neigh -> lin_l, fc_self -> lin_r, biases summed into lin_l.bias)")
    return done


def _gin(out: dict[str, Any]) -> list[str]:
    paths = sorted({k.split(".apply_func.")[0] for k in out if ".apply_func." in k})
    for p in paths:
        for key in [k for k in out if k.startswith(f"{p}.apply_func.")]:
            out[key.replace(f"{p}.apply_func.", f"{p}.nn.", 1)] = out.pop(key)
    return [f"{p} GINConv (apply_func -> nn)" for p in paths]


def _graphconv(out: dict[str, Any]) -> list[str]:
    """``weight`` [in, out] + ``bias`` under a conv-like path, when the layers chain as [in, out] (DGL) and not
    as a ``Linear``'s [out, in]."""
    paths = sorted({k[: -len(".weight")] for k in out if k.endswith(".weight") and GRAPHCONV_PATH.match(k[: -len(".weight")])},
                   key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p)])  # fmt: skip
    paths = [p for p in paths if out[f"{p}.weight"].dim() == 2 and set(_children(out, p)) <= {"weight", "bias"}]
    if not paths:
        return []
    ws = [out[f"{p}.weight"] for p in paths]
    in_out = all(a.shape[1] == b.shape[0] for a, b in zip(ws, ws[1:]))
    out_in = all(a.shape[0] == b.shape[1] for a, b in zip(ws, ws[1:]))
    named = all(re.search(r"conv|gcn", _own_name(p)) for p in paths)
    if not in_out or (out_in and not named):  # a Linear stack named layers.N chains as [out, in]: not ours
        return []
    for p in paths:
        out[f"{p}.lin.weight"] = out.pop(f"{p}.weight").t().contiguous()
    return [
        f"{p} GraphConv (weight [in, out], as in an older torch_geometric GCNConv -> lin.weight transposed)"
        for p in paths
    ]


def _own_name(path: str) -> str:
    """A module's own name in its path: ``conv1`` of ``encoder.conv1``, ``layers`` of ``layers.0``."""
    return next((part for part in reversed(path.split(".")) if not part.isdigit()), path)


def _children(state: dict[str, Any], path: str) -> list[str]:
    return [k[len(path) + 1 :] for k in state if k.startswith(path + ".")]
