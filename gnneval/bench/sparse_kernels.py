"""Unstructured sparsity executed by sparse kernels (the ``torch-sparse`` backend).

Zeroed weights only save time when something skips them.  This backend rewrites a copy of the model:

- every linear layer whose weight is at most ``MAX_DENSITY`` dense runs as a CSR sparse × dense product
  (``torch.sparse.mm(W_csr, x^T)^T``; on the CPU, PyTorch's MKL / native CSR kernels).  On CUDA, with
  ``kernels="2:4"``, weights in the 2:4 pattern (two non-zeros in every four consecutive inputs, as the
  magnitude pruner's ``pattern=2:4`` option makes) run as semi-structured sparse tensors
  (``torch.sparse.to_sparse_semi_structured``, Mishra et al. 2021), the format NVIDIA's sparse tensor
  cores execute;
- with ``sparse_input``, the linear layer that reads the node features directly multiplies them as a CSR
  matrix (converted once, as a deployment would store them): Cora's features are 98.7% zeros, so that
  product needs about 1.3% of its dense multiply-adds.  This helps the dense model as much as a pruned one;
  the dense row's speed-up on this backend shows that share.

The rewritten model's outputs are checked against eager PyTorch before anything is timed.
"""

from __future__ import annotations

from typing import Any

from gnneval.bench import SPARSE_KERNELS as KERNELS

MAX_DENSITY = 0.5  #: a weight with more non-zeros than this stays dense (CSR kernels lose to dense BLAS)
TOLERANCE = 1e-4  #: max |sparse - eager| relative to max |eager| (at least 1)


def _is_linear(mod: Any) -> bool:
    import torch

    if isinstance(mod, torch.nn.Linear):
        return True
    try:
        from torch_geometric.nn.dense.linear import Linear
    except ImportError:  # pragma: no cover - torch_geometric is a dependency
        return False
    return (
        isinstance(mod, Linear)
        and isinstance(getattr(mod, "weight", None), torch.nn.Parameter)
        and mod.weight.dim() == 2
        and not mod.weight.is_meta
    )


class CsrLinear:
    """``y = x W^T + b`` with ``W`` stored as CSR: ``(W_csr @ x^T)^T``."""

    def __init__(self, weight, bias) -> None:
        self.weight = _csr(weight)
        self.bias = None if bias is None else bias.detach()

    def __call__(self, x):
        import torch

        flat = x.reshape(-1, x.shape[-1])
        out = torch.sparse.mm(self.weight, flat.t().contiguous()).t()
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], out.shape[-1])


class SemiStructuredLinear:
    """``y = x W^T + b`` with ``W`` as a 2:4 semi-structured sparse tensor (CUDA sparse tensor cores)."""

    def __init__(self, weight, bias) -> None:
        from torch.sparse import to_sparse_semi_structured

        self.weight = to_sparse_semi_structured(weight.detach())
        self.bias = None if bias is None else bias.detach()

    def __call__(self, x):
        import torch.nn.functional as F

        return F.linear(x, self.weight, self.bias)


class SparseInputLinear:
    """The layer that reads the node features: when called with exactly those features, multiply their CSR
    form; any other input takes the layer's own path."""

    def __init__(self, inner, weight, bias, features) -> None:
        self.inner, self.features = inner, features
        self.csr = _csr(features)
        self.weight_t = weight.detach().t().contiguous()
        self.bias = None if bias is None else bias.detach()

    def __call__(self, x):
        import torch

        if x is not self.features and (x.data_ptr() != self.features.data_ptr() or x.shape != self.features.shape):
            return self.inner(x)
        out = torch.sparse.mm(self.csr, self.weight_t)
        return out if self.bias is None else out + self.bias


def _csr(t):
    import warnings

    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state": we check the outputs
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return t.detach().to_sparse_csr()


def density(weight) -> float:
    return float((weight != 0).sum()) / max(1, weight.numel())


def sparsify(
    model, inputs: tuple, *, sparse_input: bool = False, kernels: str = "csr", device: str = "cpu"
) -> tuple[Any, list[str]]:
    """A copy of ``model`` in which each linear layer runs on the fastest of its forms — dense; its weight as
    CSR (or 2:4) where at most ``MAX_DENSITY`` dense; with ``sparse_input``, the node features ``inputs[0]``
    as CSR where the layer reads them — timed on the input the layer really gets.  Returns the copy and one
    line per layer saying what was chosen and why."""
    import copy

    if kernels not in KERNELS:
        from gnneval.core.errors import UsageError

        raise UsageError(f"unknown sparse kernels '{kernels}'; use {' or '.join(KERNELS)}")
    model = copy.deepcopy(model).to(device).eval()
    seen = _layer_inputs(model, inputs)
    lines = []
    for name, mod in list(model.named_modules()):
        if name not in seen:
            continue
        w, b, x = mod.weight, mod.bias, seen[name]
        forms = {"dense": _plain_forward(mod)}
        if density(w) <= MAX_DENSITY:
            forms["2:4 semi-structured weight" if kernels == "2:4" else "CSR weight"] = (
                SemiStructuredLinear(w, b) if kernels == "2:4" else CsrLinear(w, b)
            )
        if sparse_input and x is inputs[0]:
            forms["CSR node features"] = SparseInputLinear(_plain_forward(mod), w, b, inputs[0])
        if len(forms) == 1:
            continue
        times = {label: _median_ms(fn, x, device) for label, fn in forms.items()}
        best = min(times, key=times.__getitem__)
        if best != "dense":
            mod.forward = forms[best]
        lines.append(
            f"{name} ({100 * density(w):.1f}% of weights non-zero): {best} — "
            + ", ".join(f"{label} {ms:.3f} ms" for label, ms in times.items())
        )
    return model, lines


def _median_ms(fn, x, device: str, runs: int = 15) -> float:
    import time

    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    out = []
    with torch.inference_mode():
        for i in range(runs + 3):
            t0 = time.perf_counter()
            fn(x)
            sync()
            if i >= 3:
                out.append(time.perf_counter() - t0)
    return 1e3 * sorted(out)[len(out) // 2]


def _plain_forward(mod):
    import torch.nn.functional as F

    return lambda x: F.linear(x, mod.weight, mod.bias)


def _layer_inputs(model, inputs: tuple) -> dict[str, Any]:
    """The input each linear layer gets on ``inputs`` (its first call), found by one traced call."""
    import torch

    seen: dict[str, Any] = {}
    hooks = [
        mod.register_forward_pre_hook(lambda _m, args, name=name: seen.setdefault(name, args[0]) if args else None)
        for name, mod in model.named_modules()
        if _is_linear(mod)
    ]
    try:
        with torch.inference_mode():
            model(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return seen
