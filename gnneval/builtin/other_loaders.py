"""Loaders for whole pickled modules (only with ``--trust``), TorchScript archives and safetensors files.

- ``pickle``: ``torch.save(model)`` files.  Unpickling runs code from the file, so it happens only
  when the user passes ``--trust``; ``--code MODULE_OR_FILE`` imports the code that defines the
  model's class first.  Without ``--trust`` the file is refused, unread, with a message saying why.
- ``torchscript``: ``torch.jit.save`` archives (TorchScript, not Python, runs).  They are evaluated
  and timed; per-layer embeddings cannot be captured from a scripted model, and pruners that must
  understand the layers (``structured``) refuse it, while weight pruners (``magnitude``) work.
- ``safetensors``: weights in safetensors format, with the architecture from ``--arch`` or from a
  sidecar JSON (``<file>.json`` or ``config.json`` beside it: ``{"arch": "gcn", "kwargs": {...},
  "dataset": "Cora", "task": "node-classification"}``), else inferred as for bare state_dicts.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import sys
import zipfile
from pathlib import Path

from gnneval.errors import UsageError, one_line
from gnneval.plugin import CheckpointLoader, DatasetRef, LoadContext, LoadedCheckpoint, hookimpl


def import_user_code(spec: str) -> None:
    """Import ``spec``: a module name, or the path of a .py file (registered under its stem)."""
    path = Path(spec)
    try:
        if path.suffix == ".py":
            if not path.is_file():
                raise UsageError(f"--code {spec}: no such file")
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[path.stem] = module
            module_spec.loader.exec_module(module)
        else:
            importlib.import_module(spec)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"--code {spec} could not be imported: {one_line(exc)[:200]}") from None


class PickledModuleLoader(CheckpointLoader):
    priority = 10

    def load(self, path: Path, ctx: LoadContext) -> LoadedCheckpoint | None:
        import torch

        from gnneval.checkpoint import torch_load

        if not ctx.trust:
            return None  # the weights-only loaders already refused it with the reason, if it is a pickle
        if ctx.options.get("code"):
            import_user_code(str(ctx.options["code"]))
        try:
            obj = torch_load(path, trust=True)
        except (AttributeError, ModuleNotFoundError) as exc:
            raise UsageError(f"{path} pickles a class that cannot be found ({one_line(exc)[:160]}); pass --code "
                             "with the module or .py file that defines it") from None
        if not isinstance(obj, torch.nn.Module):
            return None
        return LoadedCheckpoint(model=obj.eval(), architecture=type(obj).__name__, architecture_kwargs={},
                                task=None, dataset=None, metadata={"source": f"pickled {type(obj).__qualname__} "
                                                                             "(loaded with --trust)"})


class TorchScriptLoader(CheckpointLoader):
    priority = 20

    def load(self, path: Path, ctx: LoadContext) -> LoadedCheckpoint | None:
        import torch

        if not zipfile.is_zipfile(path):
            return None
        with zipfile.ZipFile(path) as z:
            if not any(n.endswith("/code/") or "/code/" in n for n in z.namelist()):
                return None  # a zip torch file without TorchScript code: not ours
        try:
            model = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # noqa: BLE001
            raise UsageError(f"{path} is a TorchScript archive that does not load: {one_line(exc)[:200]}") from None
        meta = {"source": "TorchScript archive: per-layer embeddings cannot be captured; only weight pruners "
                          "(e.g. magnitude) can prune it"}
        return LoadedCheckpoint(model=model.eval(), architecture=f"torchscript:{model.original_name}",
                                architecture_kwargs={}, task=None, dataset=None, metadata=meta)


def _sidecar(path: Path) -> dict:
    for cand in (path.with_suffix(path.suffix + ".json"), path.with_suffix(".json"), path.parent / "config.json"):
        if cand.is_file():
            try:
                data = json.loads(cand.read_text())
            except json.JSONDecodeError as exc:
                raise UsageError(f"sidecar {cand} is not valid JSON: {exc}") from None
            if isinstance(data, dict):
                return data
    return {}


class SafetensorsLoader(CheckpointLoader):
    priority = 60  # before the state-dict loader, so that a sidecar JSON is read

    def load(self, path: Path, ctx: LoadContext) -> LoadedCheckpoint | None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from gnneval.builtin.state_dict_loader import build_from_state

        with open(path, "rb") as f:
            head = f.read(9)
        if len(head) < 9 or head[8:9] != b"{":  # 8-byte header length, then a JSON header
            return None
        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise UsageError(f"{path} looks like safetensors but does not load: {one_line(exc)[:200]}") from None
        side = _sidecar(path)
        model, arch, kwargs, described = build_from_state(
            state, ctx, path, arch=side.get("arch") or side.get("architecture"), kwargs=side.get("kwargs"),
            source="the sidecar JSON")
        dataset = DatasetRef(str(side["dataset"])) if side.get("dataset") else None
        meta = {"source": "safetensors", **described}
        if isinstance(side.get("metrics"), dict):
            meta["metrics"] = side["metrics"]
        return LoadedCheckpoint(model=model, architecture=arch, architecture_kwargs=kwargs,
                                task=side.get("task"), dataset=dataset, metadata=meta)


@functools.cache
def onnx_module_class():
    """A ``torch.nn.Module`` that runs an ONNX model with ONNX Runtime: ``model(x, edge_index)``.
    Built on first use so that importing this plugin does not import torch."""
    import onnxruntime as ort
    import torch

    class OnnxModule(torch.nn.Module):
        def __init__(self, path: Path):
            super().__init__()
            so = ort.SessionOptions()
            so.log_severity_level = 3
            self.path = str(path)
            self.session = ort.InferenceSession(self.path, so, providers=["CPUExecutionProvider"])
            self.input_names = [i.name for i in self.session.get_inputs()]

        def forward(self, x, edge_index):
            feed = dict(zip(self.input_names, (x.cpu().numpy(), edge_index.cpu().numpy())))
            return torch.from_numpy(self.session.run(None, feed)[0])

        def __deepcopy__(self, memo):
            return type(self)(Path(self.path))

    return OnnxModule


class OnnxLoader(CheckpointLoader):
    priority = 30

    def load(self, path: Path, ctx: LoadContext) -> LoadedCheckpoint | None:
        import onnx

        with open(path, "rb") as f:
            head = f.read(64)
        if not head or head[:1] != b"\x08":  # an ONNX ModelProto starts with field 1 (ir_version), varint
            return None
        try:
            proto = onnx.load(str(path), load_external_data=False)
            onnx.checker.check_model(proto)
        except Exception:  # noqa: BLE001 - not an ONNX model after all
            return None
        try:
            model = onnx_module_class()(path)
        except Exception as exc:  # noqa: BLE001
            raise UsageError(f"{path} is an ONNX model that ONNX Runtime cannot load: {one_line(exc)[:200]}") from None
        meta = {"source": f"ONNX model (opset {proto.opset_import[0].version}); evaluated and timed with ONNX "
                          "Runtime; its weights are inside the ONNX graph, so no pruner can change them and "
                          "per-layer embeddings cannot be captured",
                "prunable": False}
        return LoadedCheckpoint(model=model, architecture="onnx", architecture_kwargs={}, task=None, dataset=None,
                                metadata=meta)


@hookimpl
def gnneval_register_checkpoint_loaders(register):
    register.add_checkpoint_loader("onnx", OnnxLoader, description="ONNX models (evaluated with ONNX Runtime; not prunable)")
    register.add_checkpoint_loader("safetensors", SafetensorsLoader,
                                   description="safetensors weights; architecture from --arch, a sidecar JSON, or inferred")
    register.add_checkpoint_loader("torchscript", TorchScriptLoader, description="TorchScript archives (torch.jit.save)")
    register.add_checkpoint_loader("pickle", PickledModuleLoader,
                                   description="whole pickled nn.Module (torch.save(model)); only with --trust")
