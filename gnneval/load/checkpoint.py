"""gnneval's native checkpoint format, safe loading, and choosing a loader.

A native checkpoint is a ``torch.save``'d dict of plain data and tensors only,
so it loads with ``torch.load(path, weights_only=True)``::

    {
      "format": "gnneval-checkpoint", "format_version": 1,
      "architecture": {"name": "gcn", "kwargs": {"in_channels": 1433, ...}},
      "state_dict": {"convs.0.lin.weight": tensor, ...},
      "task": "node-classification",
      "dataset": {"name": "Cora", "loader": "planetoid", "split": "public", "options": {}},
      "metrics": {"accuracy.test": ..., ...},   # scores by metric key (format 1 files: "test_accuracy")
      "training": {"recipe": "zoo/train_gcn_cora.py", "seed": 0, "epochs": ..., ...},
      "versions": {"python": ..., "torch": ..., "torch_geometric": ..., "gnneval": ...},
      "created": "2026-11-22T12:00:00+00:00",
    }

The architecture is data (a registered name plus keyword arguments), never a
pickled class: loading a checkpoint cannot run code.

Format version 2 (written for pruned variants, ``gnneval evaluate --save-pruned``) adds, still as
plain data: ``state_dict`` values may be compressed encodings of sparse tensors
(:mod:`gnneval.load.sparse_tensors`), ``masks`` (parameter name -> packed bit mask, True = kept),
``pruning`` (pruner, sparsity, seed, the source checkpoint's sha256) -- a structurally pruned model is
rebuilt from the architecture and then fitted to the smaller shapes of its stored tensors.
"""

from __future__ import annotations

import contextvars
import hashlib
import os
import pickle
import platform
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gnneval.core.contract import LoadContext, LoadedCheckpoint
from gnneval.core.errors import NotATorchFile, PluginError, UnsafeCheckpoint, UsageError, one_line
from gnneval.core.limits import DEFAULT_MAX_PARAMS
from gnneval.core.problems import report

if TYPE_CHECKING:  # pragma: no cover
    from gnneval.core.registry import Registry

FORMAT = "gnneval-checkpoint"
FORMAT_VERSION = 2  #: the newest version this gnneval reads; dense checkpoints are still written as 1


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of everything that can change a number gnneval reports."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in (
        "gnneval",
        "torch",
        "torch_geometric",
        "numpy",
        "scikit-learn",
        "umap-learn",
        "onnx",
        "onnxruntime",
        "onnxruntime-gpu",
        "h5py",
        "pluggy",
    ):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


def safe_numpy_globals() -> list:
    """Exactly the numpy types a weights-only load may create: scalars (``np.float64(0.81)`` in a
    checkpoint's metadata) and their dtypes, under the module paths of numpy 1 (``numpy.core``) and
    numpy 2 (``numpy._core``) alike — a checkpoint saved under numpy 1 names the old path.  Arrays and
    anything else stay refused."""
    import numpy as np

    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    names = (
        "Float16DType",
        "Float32DType",
        "Float64DType",
        "Int8DType",
        "Int16DType",
        "Int32DType",
        "Int64DType",
        "UInt8DType",
        "UInt16DType",
        "UInt32DType",
        "UInt64DType",
        "BoolDType",
    )
    dtypes = [getattr(np.dtypes, n) for n in names if hasattr(getattr(np, "dtypes", None), n)]
    both = [(scalar, f"{root}.multiarray.scalar") for root in ("numpy.core", "numpy._core")]
    return [*both, np.dtype, *dtypes]


_LOADED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("gnneval_loaded", default=None)
"""While one checkpoint is being loaded, what ``torch_load`` already read, so that the loaders tried in turn
unpickle a file once (with ``--trust``, a payload runs once, not once per loader)."""


def torch_load(path: Path, *, trust: bool = False) -> Any:
    """Load ``path`` with ``weights_only=True`` (unless ``trust``), on the CPU, after checking the archive's
    checksums.

    :raises NotATorchFile: the file is not something torch can read.
    :raises UnsafeCheckpoint: the file needs code to load and ``trust`` is False (naming what it would call).
    :raises UsageError: the file is empty or its bytes do not match its checksums.
    """
    cache = _LOADED.get()
    key = (str(Path(path).resolve()), trust)
    if cache is not None and key in cache:
        return cache[key]
    obj = _torch_load(Path(path), trust)
    if cache is not None:
        cache[key] = obj
    return obj


def _torch_load(path: Path, trust: bool) -> Any:
    import torch

    if path.stat().st_size == 0:
        raise UsageError(f"{path} is empty (0 bytes); it is not a checkpoint")
    verify_zip(path)
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(safe_numpy_globals()):
            warnings.simplefilter("ignore")  # e.g. torch's note on pickle protocols
            return torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError:
        refs = pickle_code_references(path)
        if refs is None:  # not a pickle stream at all
            raise NotATorchFile("not a PyTorch file: the weights-only unpickler cannot read it") from None
        unsafe = [r for r in refs if r not in _SAFE_GLOBALS]
        if not unsafe:
            raise NotATorchFile("not a PyTorch file: the weights-only unpickler cannot read it") from None
        raise UnsafeCheckpoint(_refusal(path, unsafe)) from None
    except (AttributeError, ModuleNotFoundError) as exc:
        if trust:  # the file's class is not importable here: say which, and how to give its code
            raise UsageError(_missing_class(path, exc)) from None
        raise NotATorchFile(one_line(exc)[:200]) from None
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever torch.load raises, the file is not one it reads
        raise NotATorchFile(_unreadable(exc)) from None


def _unreadable(exc: BaseException) -> str:
    """Why torch.load could not read a file, in words (never the library's own message)."""
    text = str(exc)
    if "hasRecord" in text or "zip archive" in text or "PytorchStreamReader" in text or "central directory" in text:
        return "a zip archive, but not a readable PyTorch one (damaged, truncated, or another program's zip)"
    if isinstance(exc, EOFError) or "truncated" in text.lower():
        return "it ends too early: the file is truncated"
    if "Safetensor" in type(exc).__name__:
        return "a damaged safetensors file (its header does not parse)"
    return f"torch.load cannot read it ({type(exc).__name__})"


def _missing_class(path: Path, exc: BaseException) -> str:
    """One line for a pickled class that cannot be found, with the ``--code`` that gives it."""
    text = str(exc)
    found = re.search(r"Can't get attribute '([\w.]+)' on <module '([\w.]+)'", text)
    missing = re.search(r"No module named '([\w.]+)'", text)
    if found:
        cls, module = found.groups()
        where = ("the script that saved it (its __main__)" if module.endswith("__main__")
                 else f"module {module}")  # fmt: skip
        return (
            f"{path} pickles the class '{cls}', defined in {where}, which is not importable here; pass "
            f"--code with the .py file (or module) that defines {cls}, alongside --trust"
        )
    if missing:
        return (
            f"{path} pickles classes from module '{missing.group(1)}', which is not installed here; install "
            "it, or pass --code with the .py file that defines them, alongside --trust"
        )
    return f"{path} pickles a class that cannot be found here; pass --code with the code that defines it"


def _refusal(path: Path, unsafe: list[str]) -> str:
    hint = ""
    if any(r.startswith("dgl.") for r in unsafe):
        hint = (
            " It is a whole DGL module: gnneval runs models called as model(x, edge_index); save its "
            "weights as a state_dict of an equivalent torch_geometric model, or wrap it and pass --trust --code."
        )
    danger = [r for r in unsafe if r.split(".")[0] in _DANGEROUS_MODULES]
    said = ", ".join(dict.fromkeys(unsafe))
    return (
        f"refused to load {path}: it holds Python objects, not just tensors and plain data, and unpickling it "
        f"would call {said}"
        + (" — code that can run commands or touch files" if danger else "")
        + ". gnneval loads checkpoints with torch.load(weights_only=True) so that a file cannot run code; "
        f"re-run with --trust only if you trust where the file came from.{hint}"
    )


_DANGEROUS_MODULES = {
    "os",
    "posix",
    "nt",
    "subprocess",
    "builtins",
    "__builtin__",
    "sys",
    "shutil",
    "socket",
    "importlib",
    "runpy",
    "pty",
    "code",
    "ctypes",
    "pickle",
    "marshal",
    "webbrowser",
}
_SAFE_GLOBALS = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter_with_state",
    "torch.FloatStorage",
    "torch.DoubleStorage",
    "torch.HalfStorage",
    "torch.LongStorage",
    "torch.IntStorage",
    "torch.ShortStorage",
    "torch.CharStorage",
    "torch.ByteStorage",
    "torch.BoolStorage",
    "torch.BFloat16Storage",
    "torch.Size",
    "torch.device",
    "torch.float32",
    "torch._tensor._rebuild_from_type_v2",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.dtype",
    "builtins.set",
    "builtins.frozenset",
}


def verify_zip(path: Path) -> None:
    """A zip checkpoint's every member must match its stored CRC (torch itself does not check them, so
    flipped bytes would load silently as wrong weights)."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise UsageError(f"{path} is a damaged zip archive ({one_line(exc)[:120]}); it cannot be trusted") from None
    if bad is not None:
        raise UsageError(
            f"{path} is corrupt: the bytes of '{bad}' do not match its stored checksum (the file was "
            "damaged in transfer or on disk); get a fresh copy"
        )


_CODE_OPS = {"GLOBAL", "STACK_GLOBAL", "REDUCE", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"}


LEGACY_PICKLES = 5
"""A legacy torch file's pickles: magic number, protocol version, system info, the object, the storage keys."""


def pickle_code_references(path: Path) -> list[str] | None:
    """Scan the pickle of a checkpoint (a zip archive's ``data.pkl``, or a legacy file's stream) without
    running it.

    :returns: None if the file is not a well-formed pickle stream; otherwise the
        globals it would import or call (empty when it only holds plain data).
    """
    import io
    import pickletools
    import zipfile

    refs: list[str] = []
    strings: list[str] = []
    uses_code = False
    legacy = not zipfile.is_zipfile(path)
    try:
        if not legacy:
            with zipfile.ZipFile(path) as zf:
                name = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                if name is None:
                    return None
                stream: Any = io.BytesIO(zf.read(name))
        else:
            stream = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except Exception:  # noqa: BLE001 - anything malformed is "not a pickle"
        return None
    done = 0  #: complete pickles read: a legacy (pre-zip) torch file is several (magic, version, info, object)
    with stream as f:
        while done < (LEGACY_PICKLES if legacy else 1):
            try:
                for op, arg, _pos in pickletools.genops(f):
                    if isinstance(arg, str):
                        strings.append(arg)
                    if op.name == "GLOBAL":
                        refs.append(str(arg).replace(" ", "."))
                    elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                        refs.append(f"{strings[-2]}.{strings[-1]}")
                    uses_code = uses_code or op.name in _CODE_OPS
                    if op.name == "STOP":
                        break
                else:
                    break  # the stream ended
            except Exception:  # noqa: BLE001 - past the pickles: the legacy file's raw tensor bytes
                if done == 0:
                    return None
                break
            done += 1
    if uses_code and not refs:
        refs.append("a Python callable")
    return list(dict.fromkeys(refs))


def load_checkpoint(
    path: Path,
    registry: Registry,
    *,
    trust: bool = False,
    loader: str | None = None,
    options: dict[str, Any] | None = None,
    max_params: int = DEFAULT_MAX_PARAMS,
) -> tuple[LoadedCheckpoint, str]:
    """Find the loader that recognises ``path`` and load it.

    :returns: the loaded checkpoint and the loader's name.
    :raises UsageError: missing file, or no loader recognises it.
    """
    if not path.exists():
        raise UsageError(f"checkpoint {path} does not exist; give the path of a checkpoint file")
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give the path of a checkpoint file")
    builder = ArchitectureBuilder(registry, (options or {}).get("arch"))
    ctx = LoadContext(trust=trust, options=dict(options or {}), _build=builder, max_params=max_params)
    regs = (
        [registry.get("checkpoint-loader", loader)]
        if loader
        else sorted(registry.items("checkpoint-loader"), key=lambda r: -getattr(r.obj, "priority", 0))
    )
    if not regs:
        raise UsageError("no checkpoint loader is installed (see `gnneval plugins`)")
    if trust and (options or {}).get("code"):  # before any loader unpickles the file
        from gnneval.load.user_code import import_code

        import_code(str((options or {})["code"]))
    token = _LOADED.set({})
    try:
        return _try_loaders(path, regs, ctx, builder)
    finally:
        _LOADED.reset(token)


def _try_loaders(
    path: Path, regs: list, ctx: LoadContext, builder: ArchitectureBuilder
) -> tuple[LoadedCheckpoint, str]:
    reasons = []
    for reg in regs:
        try:
            result = reg.obj(**reg.options).load(path, ctx)
        except UsageError:
            raise
        except NotATorchFile as exc:
            reasons.append(f"{reg.name}: {exc}")
            continue
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - one broken loader must not hide the others
            msg = (
                f"checkpoint loader '{reg.name}' raised {one_line(exc) if isinstance(exc, Exception) else 'SystemExit'}"
            )
            reasons.append(msg)
            report(str(reg.plugin), msg)
            continue
        if result is not None:
            if not isinstance(result, LoadedCheckpoint):
                raise PluginError(
                    f"checkpoint loader '{reg.name}' ({reg.plugin}) returned {type(result).__name__}, "
                    "not a LoadedCheckpoint or None"
                )
            if builder.user_class is not None:
                result.metadata["model_class"] = builder.user_class.as_dict()
                saved = result.metadata.get("saved_model_class")
                if isinstance(saved, dict) and saved.get("sha256") and saved["sha256"] != builder.user_class.sha256:
                    result.notes.append(
                        f"warning: {builder.user_class.spec} is not the file this variant was saved "
                        f"with (sha256 {saved['sha256'][:12]} then, "
                        f"{builder.user_class.sha256[:12]} now)"
                    )
            return result, reg.name
    foreign = describe_foreign(path)
    if foreign:
        raise UsageError(f"{path} is {foreign}")
    tried = ", ".join(r.name for r in regs)
    reasons = reasons or [f"it holds {held}" for held in [_what_it_holds(path)] if held]
    why = f" ({'; '.join(_plain_reason(r) for r in reasons)})" if reasons else ""
    raise UsageError(f"{path} is not a checkpoint that gnneval can read (tried loaders: {tried}){why}")


def _what_it_holds(path: Path) -> str:
    """For a file torch reads but no loader takes: what is in it, in a few words."""
    import torch

    try:
        obj = torch_load(path)
    except Exception:  # noqa: BLE001 - unreadable: the loaders said why
        return ""
    if isinstance(obj, torch.Tensor):
        return f"a single tensor {tuple(obj.shape)}, not a model's named weights (save model.state_dict())"
    if isinstance(obj, dict):
        tensors = sum(isinstance(v, torch.Tensor) for v in obj.values())
        nested = [k for k, v in obj.items() if isinstance(v, dict)]
        empty = [k for k in nested if not obj[k]]
        if empty:
            return (
                f"a dict whose {', '.join(map(repr, empty[:3]))} {'is' if len(empty) == 1 else 'are'} empty: no weights"
            )
        if not tensors and not nested:
            return f"a dict of {len(obj)} plain values ({', '.join(map(str, list(obj)[:5]))}) and no tensors"
        return f"a dict with keys {', '.join(map(str, list(obj)[:6]))}, none of them a state_dict a loader knows"
    return f"a {type(obj).__name__}, not a model's weights"


def _plain_reason(reason: str) -> str:
    """A loader's reason without the library's internals (``PytorchStreamReader failed ... miniz error``)."""
    if "PytorchStreamReader" in reason or "zip archive" in reason:
        return reason.split(":", 1)[0] + ": not a readable PyTorch zip archive"
    return reason[:160]


_CONVERT = ("gnneval reads PyTorch weights: load them with {lib} and save a state_dict of the equivalent "
            "torch_geometric model (torch.save(model.state_dict(), 'model.pt')), then evaluate that")  # fmt: skip


def describe_foreign(path: Path) -> str | None:
    """What a file that no loader reads is, when it is a known other format (TensorFlow, Keras, JAX/Flax, ONNX
    external data, NumPy, a gnneval run) — one phrase with what to do — else None."""
    name, suffix = path.name.lower(), path.suffix.lower()
    with open(path, "rb") as f:
        head = f.read(16)
    tf_pair = re.search(r"\.(index|data-\d{5}-of-\d{5})$", name)
    if tf_pair or (path.parent / "checkpoint").is_file() and suffix in (".index", ".meta"):
        return ("a TensorFlow checkpoint (an .index file and its .data-NNNNN-of-NNNNN shards, read with "
                "tf.train.load_checkpoint); " + _CONVERT.format(lib="TensorFlow"))  # fmt: skip
    if name == "saved_model.pb" or suffix == ".pb":
        return "a TensorFlow SavedModel / GraphDef protobuf; " + _CONVERT.format(lib="TensorFlow")
    if head[4:8] == b"TFL3":
        return "a TensorFlow Lite flatbuffer; " + _CONVERT.format(lib="TensorFlow")
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return _hdf5_kind(path)
    if suffix == ".keras":
        return "a Keras 3 model archive (.keras); " + _CONVERT.format(lib="Keras")
    if suffix in (".msgpack", ".flax") or "orbax" in name:
        return "a JAX/Flax checkpoint (msgpack or Orbax); " + _CONVERT.format(lib="flax.serialization")
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy array file (.npy): weights without their names; save a state_dict instead"
    if suffix == ".data" or name.endswith(".onnx.data") or name.endswith(".onnx_data"):
        return (
            "the external tensor data of an ONNX model; give the .onnx file that refers to it (keep both side by side)"
        )
    return None


def _hdf5_kind(path: Path) -> str:
    try:
        import h5py

        with h5py.File(path, "r") as f:
            attrs = {str(k) for k in f.attrs}
            if "format" in attrs and str(f.attrs["format"]) == "gnneval-run":
                return f"a gnneval run file, not a checkpoint: `gnneval show {path.parent}` prints it"
            keras = "keras_version" in attrs or "model_config" in attrs or "layer_names" in attrs
    except Exception:  # noqa: BLE001 - an HDF5 file h5py cannot open is still HDF5
        keras = False
    if keras:
        return "a Keras HDF5 model or weights file (.h5); " + _CONVERT.format(lib="Keras (keras.models.load_model)")
    return "an HDF5 file that is no checkpoint gnneval knows; " + _CONVERT.format(lib="h5py")


class ArchitectureBuilder:
    """``LoadContext.build_model``: a registered architecture by name, or the user's own class
    (``file.py:Class``) — but only the one the user named with ``--arch``: a class reference read from a
    file is data, and importing it would let the file run code."""

    def __init__(self, registry: Registry, user_arch: object) -> None:
        self.registry = registry
        self.user_arch = user_arch if isinstance(user_arch, str) else None
        self.user_class: Any = None  #: the ClassRef of the user's class once built

    def __call__(self, name: str, **kwargs: Any) -> Any:
        from gnneval.load.user_code import build_user_model, is_class_reference, same_class

        if not is_class_reference(name):
            return self.registry.build_architecture(name, **kwargs)
        if not same_class(name, self.user_arch):
            raise UsageError(
                f"the checkpoint's architecture is model code, '{name}'; gnneval never imports code a "
                f"file names. If you trust it, pass --arch {name} (with its --arch-option values)"
            )
        model, self.user_class = build_user_model(str(self.user_arch), kwargs)
        return model
