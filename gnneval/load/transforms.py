"""Dataset transforms: ``--transform NormalizeFeatures,ToUndirected`` or ``AddSelfLoops(fill_value=1.0)``.

Names are classes of ``torch_geometric.transforms``, applied in order to the loaded graph, as the
model's authors applied them when they trained it (most PyG examples train Planetoid models on
``NormalizeFeatures()`` features; evaluating such a model on raw features costs several points).
Arguments are Python literals; nothing else is evaluated.
"""

from __future__ import annotations

import ast
from typing import Any

from gnneval.core.errors import UsageError, suggest


def split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses and brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return [p for p in parts if p]


def parse_transforms(text: str | None) -> list[tuple[str, dict[str, Any]]]:
    """``"NormalizeFeatures,AddSelfLoops(fill_value=1.0)"`` -> ``[("NormalizeFeatures", {}), ("AddSelfLoops",
    {"fill_value": 1.0})]``; a malformed item or unknown class is a one-line UsageError with the closest names."""
    out = []
    for item in split_top_level(text or ""):
        try:
            node = ast.parse(item, mode="eval").body
        except SyntaxError:
            raise UsageError(f"--transform '{item}' is not Name or Name(key=value, ...)") from None
        if isinstance(node, ast.Name):
            name, kwargs = node.id, {}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args:
            try:
                kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
            except ValueError:
                raise UsageError(
                    f"--transform '{item}': arguments must be Python literals (numbers, strings, "
                    "True/False/None, lists)"
                ) from None
            name = node.func.id
        else:
            raise UsageError(f"--transform '{item}' is not Name or Name(key=value, ...)")
        _check_name(name)
        out.append((name, kwargs))
    return out


def _known() -> list[str]:
    import torch_geometric.transforms as T

    return sorted(
        n
        for n in dir(T)
        if n[:1].isupper()
        and isinstance(getattr(T, n), type)
        and issubclass(getattr(T, n), T.BaseTransform)
        and n not in ("BaseTransform", "Compose")
    )


def _check_name(name: str) -> None:
    known = _known()
    if name not in known:
        raise UsageError(
            f"--transform: '{name}' is not a torch_geometric transform{suggest(name, known)}; "
            "see torch_geometric.transforms (e.g. NormalizeFeatures, ToUndirected, AddSelfLoops)"
        )


def apply_transforms(data: Any, text: str | None) -> Any:
    """``data`` after every transform ``text`` names, in order (a new object; ``data`` is not changed)."""
    import copy

    import torch_geometric.transforms as T

    specs = parse_transforms(text)
    if not specs:
        return data
    out = copy.copy(data)
    for name, kwargs in specs:
        try:
            transform = getattr(T, name)(**kwargs)
        except TypeError as exc:
            raise UsageError(f"--transform {name}{kwargs or ''}: {exc}") from None
        out = transform(out)
    return out


def canonical(text: str | None) -> str:
    """A normalised spelling for provenance: ``NormalizeFeatures,AddSelfLoops(fill_value=1.0)``."""
    return ",".join(
        name + (f"({', '.join(f'{k}={v!r}' for k, v in kw.items())})" if kw else "")
        for name, kw in parse_transforms(text)
    )
