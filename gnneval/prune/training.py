"""Training built into gnneval: fine-tuning and retraining of (pruned) models, with masks kept fixed.

Seeded; early stopping on the validation split (node and graph classification: accuracy, ties broken by
loss; link prediction: ROC-AUC); the best state is restored.  Masked weights are zeroed after every
optimiser step, so the sparsity of a masked model never drifts.

Training FLOPs are counted as the sparse-training literature does (Evci et al. 2020, RigL; Peng et al.
2022): one training step costs three forward passes (forward, gradient with respect to the activations,
gradient with respect to the weights), each counted by :func:`gnneval.model.counting.count_flops` -- dense
kernels for an unmasked model, only the active weights for a masked one (message passing in full
either way).  Validation forward passes are not training cost and are not counted.  A mask-update hook
(RigL) adds what its updates cost beyond a sparse step.

The 3x convention over-counts where a backward pass is cheaper: on a 2-layer GCN the first layer needs
no gradient with respect to its input (the features), so a real backward costs about one forward, not
two.  Each training run therefore also measures one real step with ``torch.utils.flop_counter``
(``TrainResult.measured_step_flops``, matrix products only) and it is stored beside the convention.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from gnneval.core.contract import GraphData


@dataclass
class TrainResult:
    epochs: int  #: epochs run (early stopping may end sooner)
    best_epoch: int
    best_val: float  #: validation accuracy (classification) or ROC-AUC (link prediction)
    seconds: float
    flops: float = 0.0  #: training FLOPs spent (3 forward passes per step, plus mask-update costs)
    measured_step_flops: float = 0.0
    """FLOPs of one real training step (forward + backward) as ``torch.utils.flop_counter`` counts them
    (matrix products only), beside the 3-forward-passes convention ``flops`` uses; see the module docstring."""
    masks: dict | None = None  #: the masks of the restored best state (they change under sparse training)


def step_flops(model: Any, graph: GraphData, masked: bool) -> tuple[float, float]:
    """``(dense, sparse)`` FLOPs of one forward pass of ``model`` on ``graph``; ``masked`` says which one a
    training step of this model pays (see the module docstring)."""
    from gnneval.model.counting import count_flops

    dense, sparse = count_flops(model, graph)
    return float(dense), float(sparse if masked else dense)


def reinitialise(model: Any, seed: int) -> None:
    """Fresh, seeded initial weights for ``model`` (theta_0)."""
    import torch

    torch.manual_seed(seed)
    if hasattr(model, "reset_parameters"):
        model.reset_parameters()
        return
    for mod in model.modules():
        if mod is not model and hasattr(mod, "reset_parameters") and any(True for _ in mod.parameters(recurse=False)):
            mod.reset_parameters()


def apply_masks(model: torch.nn.Module, masks: dict[str, torch.Tensor]) -> None:
    import torch

    if not masks:
        return
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask.to(params[name].device, params[name].dtype))


def _val_score(model: Any, graph: GraphData) -> tuple[float, float]:
    """(score, loss) on the validation split; higher score is better."""
    import torch
    import torch.nn.functional as F

    from gnneval.model.forward import model_inputs

    d = graph.data
    model.eval()
    with torch.no_grad():
        out = model(*model_inputs(graph))
    if graph.task == "link-prediction":
        from sklearn.metrics import roc_auc_score

        idx, label = d.val_edge_label_index, d.val_edge_label
        s = (out[idx[0]] * out[idx[1]]).sum(1)
        return float(roc_auc_score(label.numpy(), s.numpy())), float(
            F.binary_cross_entropy_with_logits(s, label.float())
        )
    m = d.val_mask
    return float((out[m].argmax(1) == d.y[m]).float().mean()), float(F.cross_entropy(out[m], d.y[m]))


def task_loss(model: Any, graph: GraphData) -> Any:
    """The training loss of ``graph``'s task: cross-entropy on the train nodes (graph classification: the
    train graphs), or for link prediction
    binary cross-entropy of dot-product scores, one sampled non-edge per training edge."""
    import torch
    import torch.nn.functional as F

    from gnneval.model.forward import model_inputs

    d = graph.data
    out = model(*model_inputs(graph))
    if graph.task == "link-prediction":
        from torch_geometric.utils import negative_sampling

        neg = negative_sampling(d.edge_index, num_nodes=d.num_nodes, num_neg_samples=d.edge_index.shape[1])
        pos_s = (out[d.edge_index[0]] * out[d.edge_index[1]]).sum(1)
        neg_s = (out[neg[0]] * out[neg[1]]).sum(1)
        return F.binary_cross_entropy_with_logits(
            torch.cat([pos_s, neg_s]), torch.cat([torch.ones_like(pos_s), torch.zeros_like(neg_s)])
        )
    return F.cross_entropy(out[d.train_mask], d.y[d.train_mask])


def train(
    model: torch.nn.Module,
    graph: GraphData,
    *,
    epochs: int = 200,
    lr: float = 0.01,
    weight_decay: float = 5e-4,
    patience: int = 50,
    masks: dict[str, torch.Tensor] | None = None,
    seed: int = 0,
    l1: float = 0.0,
    on_backward: Callable[..., float] | None = None,
    on_epoch: Callable[..., Any] | None = None,
    penalty: Callable[..., Any] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``graph``'s task; returns what happened.

    ``l1`` adds ``l1 * sum(|w|)`` over the prunable weight matrices to the loss (the classic
    sparsity-inducing regulariser).  ``on_backward(epoch, model, optimizer, masks)``, if given, runs after
    the gradients are computed and before the optimiser step; it may change ``masks`` in place (sparse
    training) and returns the extra FLOPs it cost.  ``on_epoch(epoch, model)``, if given, runs after each
    optimiser step (e.g. to keep the weights of epoch k for rewinding).  ``penalty(model)``, if given, returns
    a scalar tensor added to the loss (ADMM's proximal term, for example)."""
    import torch

    t0 = time.perf_counter()
    masks = masks or {}
    torch.manual_seed(seed)
    apply_masks(model, masks)
    _, per_forward = step_flops(model, graph, masked=bool(masks))
    flops = 0.0
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    best = (-float("inf"), float("inf"))
    best_state, best_epoch, since = copy.deepcopy(model.state_dict()), 0, 0
    best_masks = {k: v.clone() for k, v in masks.items()}
    epoch = 0
    measured = 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        opt.zero_grad()
        counted = _backward(model, graph, l1, penalty, count=epoch == 1)
        measured = counted if epoch == 1 else measured
        flops += 3 * per_forward
        if on_backward is not None:
            flops += float(on_backward(epoch, model, opt, masks) or 0.0)
        opt.step()
        apply_masks(model, masks)  # pruned weights stay exactly zero
        if on_epoch is not None:
            on_epoch(epoch, model)
        score, loss = _val_score(model, graph)
        if (score, -loss) > (best[0], -best[1]):
            best, best_state, best_epoch, since = (score, loss), copy.deepcopy(model.state_dict()), epoch, 0
            best_masks = {k: v.clone() for k, v in masks.items()}
        else:
            since += 1
            if since >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(
        epochs=epoch,
        best_epoch=best_epoch,
        best_val=best[0],
        seconds=time.perf_counter() - t0,
        flops=flops,
        masks=best_masks,
        measured_step_flops=measured,
    )


def _backward(model: Any, graph: GraphData, l1: float, penalty: Any, count: bool) -> float:
    """Loss (with the L1 and penalty terms) and its backward pass; the FLOPs torch counts when ``count``."""
    from gnneval.model.counting import prunable_weights

    counter = _flop_counter() if count else None
    with counter if counter is not None else nullcontext():
        loss = task_loss(model, graph)
        if l1 > 0:
            loss = loss + l1 * sum(p.abs().sum() for _, p in prunable_weights(model))
        if penalty is not None:
            loss = loss + penalty(model)
        loss.backward()
    return float(counter.get_total_flops()) if counter is not None else 0.0


def _flop_counter() -> Any:
    """torch's FLOP counter for one real training step, or None where this torch has none."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:  # pragma: no cover - old torch
        return None
    return FlopCounterMode(display=False)
