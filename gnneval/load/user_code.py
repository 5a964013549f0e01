"""The user's own model class for a state_dict: ``--arch models.py:GCN_3L`` or ``--arch package.module:GCN``.

Only the file or module **the user names on the command line** is imported; a checkpoint can never name
code to run (a reference found in a file is data, and is refused unless it equals the user's ``--arch``).
The class is built with the ``--arch-option`` keyword arguments, then the weights are loaded into it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gnneval.core.errors import UsageError, one_line


def is_class_reference(spec: object) -> bool:
    """``models.py:GCN`` or ``pkg.module:GCN`` (a registered architecture name has no colon)."""
    return isinstance(spec, str) and ":" in spec and not spec.startswith(":") and not spec.endswith(":")


def same_class(recorded: str, given: object) -> bool:
    """Whether the user's ``--arch`` names the class a file records (same class name, same file: the same
    resolved path, or the same file name when the recorded path was relative to another folder)."""
    if not isinstance(given, str) or not is_class_reference(given):
        return False
    (rec_where, _, rec_name), (giv_where, _, giv_name) = recorded.rpartition(":"), given.rpartition(":")
    if rec_name != giv_name:
        return False
    if rec_where == giv_where:
        return True
    rec, giv = Path(rec_where), Path(giv_where)
    if rec.is_file() and giv.is_file():
        return rec.resolve() == giv.resolve()
    return rec.name == giv.name


@dataclass(frozen=True)
class ClassRef:
    """Where a user's model class lives, as recorded with a run and in saved variants."""

    spec: str  #: what the user wrote, e.g. ``models.py:GCN_3L``
    file: str  #: the resolved source file ("" for a module without one)
    sha256: str  #: of that file, so a saved variant says which code built it

    def as_dict(self) -> dict[str, str]:
        return {"class": self.spec, "file": self.file, "sha256": self.sha256}


def import_class(spec: str) -> tuple[type, ClassRef]:
    """Import the class ``spec`` names (``path/to/file.py:Class`` or ``package.module:Class``).

    :raises UsageError: one line naming what is missing.
    """
    where, _, name = spec.rpartition(":")
    if where.endswith(".py") or "/" in where or "\\" in where:
        module, file = _import_file(Path(where).expanduser())
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise UsageError(
                f"--arch {spec}: cannot import module '{where}' ({one_line(exc)[:160]}); give "
                "path/to/file.py:Class or an importable module:Class"
            ) from None
        file = getattr(module, "__file__", "") or ""
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        found = sorted(n for n, v in vars(module).items() if isinstance(v, type) and v.__module__ == module.__name__)
        raise UsageError(
            f"--arch {spec}: '{where}' defines no class '{name}'"
            + (f"; it defines {', '.join(found)}" if found else "")
        )
    digest = hashlib.sha256(Path(file).read_bytes()).hexdigest() if file and Path(file).is_file() else ""
    return cls, ClassRef(spec, str(Path(file).resolve()) if file else "", digest)


def _import_file(path: Path) -> tuple[Any, str]:
    if not path.is_file():
        raise UsageError(f"--arch: the file {path} does not exist; give path/to/file.py:Class")
    name = "gnneval_user_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name], str(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"--arch: {path} is not a Python file that can be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))  # so the file can import its neighbours, as in its own repository
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's code: say where it failed
        del sys.modules[name]
        raise UsageError(f"--arch: importing {path} failed: {one_line(exc)[:200]}") from None
    finally:
        sys.path.remove(str(path.parent))
    return module, str(path)


def build_user_model(spec: str, kwargs: dict[str, Any]) -> tuple[Any, ClassRef]:
    """Instantiate the user's class with ``kwargs``; a wrong argument is one line naming the signature."""
    cls, ref = import_class(spec)
    try:
        model = cls(**kwargs)
    except TypeError as exc:
        try:
            sig = str(inspect.signature(cls))
        except (TypeError, ValueError):
            sig = "(...)"
        raise UsageError(
            f"--arch {spec}: {cls.__name__}{sig} cannot be built with {kwargs}: {one_line(exc)[:160]}; "
            "give its arguments with --arch-option NAME=VALUE"
        ) from None
    return model, ref


def forward_arity(model: Any) -> tuple[int, int]:
    """(required, total) positional arguments of ``model.forward``: (2, 2) for ``forward(x, edge_index)``."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return 2, 3
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return len(required), 99
    return len(required), len(positional)


def check_forward(model: Any, task: str | None, spec: str) -> None:
    """The call gnneval makes must fit the forward signature: ``(x, edge_index)`` for node-level tasks,
    ``(x, edge_index, batch)`` for graph classification."""
    required, total = forward_arity(model)
    wants = 3 if task == "graph-classification" else 2
    if required > wants or total < wants:
        raise UsageError(
            f"--arch {spec}: forward takes {required}-{total} positional arguments but gnneval calls it "
            f"as model(x, edge_index{', batch' if wants == 3 else ''}) for a "
            f"{task or 'node-classification'} model; pass --task, or wrap the model so it takes those"
        )


def import_code(spec: str) -> Any:
    """``--code``: import ``spec``, a module name or the path of a .py file (registered under its stem), for a
    pickled whole model whose class it defines.  Its classes are also made visible as ``__main__.<Class>``
    where ``__main__`` lacks them: a model saved by a script (``torch.save(model)`` in ``python train.py``)
    pickles its class as ``__main__.Net``."""
    path = Path(spec)
    try:
        if path.suffix == ".py":
            if not path.is_file():
                raise UsageError(f"--code {spec}: no such file")
            if path.stem in sys.modules and getattr(sys.modules[path.stem], "__file__", None) == str(path.resolve()):
                module = sys.modules[path.stem]
            else:
                module_spec = importlib.util.spec_from_file_location(path.stem, path.resolve())
                assert module_spec is not None and module_spec.loader is not None
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[path.stem] = module
                module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(spec)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"--code {spec} could not be imported ({type(exc).__name__}: {one_line(exc)[:160]})") from None
    main = sys.modules.get("__main__")
    for name, obj in vars(module).items():
        if inspect.isclass(obj) and obj.__module__ == module.__name__ and main is not None and not hasattr(main, name):
            setattr(main, name, obj)
    return module
