"""Loaders for files that hold a whole model, not just weights: pickled modules (only with ``--trust``),
TorchScript archives and ONNX models.

- ``pickle``: ``torch.save(model)`` files.  Unpickling runs code from the file, so it happens only
  when the user passes ``--trust``; ``--code MODULE_OR_FILE`` imports the code that defines the
  model's class first.  Without ``--trust`` the file is refused, unread, with a message saying why.
- ``torchscript``: ``torch.jit.save`` archives (TorchScript, not Python, runs).  They are evaluated
  and timed; per-layer embeddings cannot be captured from a scripted model, and pruners that must
  understand the layers (``structured``) refuse it, while weight pruners (``magnitude``) work.
- ``onnx``: ONNX models, evaluated and timed with ONNX Runtime; not prunable.
"""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path

from gnneval.plugin import CheckpointLoader, LoadContext, LoadedCheckpoint, UsageError, hookimpl
from gnneval.plugin.helpers import import_code, one_line


class PickledModuleLoader(CheckpointLoader):
    """Reads whole pickled modules (``torch.save(model)``) only with ``--trust``, since unpickling runs code from
    the file; ``--code MODULE_OR_FILE`` imports the class's code first. Without ``--trust`` the file is
    scanned, never run, and refused naming the globals it would call.
    """

    priority = 10

    def load(self, path: Path, ctx: LoadContext) -> LoadedCheckpoint | None:
        import torch

        from gnneval.plugin.helpers import torch_load

        if not ctx.trust:
            return None  # the weights-only loaders already refused it with the reason, if it is a pickle
        if ctx.options.get("code"):
            import_code(str(ctx.options["code"]))
        try:
            obj = torch_load(path, trust=True)
        except (AttributeError, ModuleNotFoundError) as exc:
            raise UsageError(
                f"{path} pickles a class that cannot be found ({one_line(exc)[:160]}); pass --code "
                "with the module or .py file that defines it"
            ) from None
        if not isinstance(obj, torch.nn.Module):
            return None
        return LoadedCheckpoint(
            model=obj.eval(),
            architecture=type(obj).__name__,
            architecture_kwargs={},
            task=None,
            dataset=None,
            source=f"pickled {type(obj).__qualname__} (loaded with --trust)",
        )


class TorchScriptLoader(CheckpointLoader):
    """Reads ``torch.jit.save`` archives: evaluated and timed; weight pruners work on their parameters, the
    structured pruner refuses them, and no per-layer embeddings are captured (the archive hides its layers).
    """

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
        source = (
            "TorchScript archive: per-layer embeddings cannot be captured; only weight pruners "
            "(e.g. magnitude) can prune it"
        )
        return LoadedCheckpoint(
            model=model.eval(),
            architecture=f"torchscript:{model.original_name}",
            architecture_kwargs={},
            task=None,
            dataset=None,
            source=source,
        )


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


def check_external_data(proto, path: Path) -> None:
    """Weights an ONNX model keeps in other files must lie in the model's own folder: a path is resolved
    against that folder (never the working directory), and an absolute path, one that leaves the folder,
    a symbolic link or a missing file is refused with the reason."""
    import onnx

    folder = path.resolve().parent
    tensors = list(proto.graph.initializer)
    for node in proto.graph.node:
        tensors += [a.t for a in node.attribute if a.HasField("t")]
    for tensor in tensors:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        target = folder / location
        why = ""
        if not location or Path(location).is_absolute():
            why = "an absolute path" if location else "no file name"
        elif target.is_symlink():
            why = "a symbolic link"
        elif not target.resolve().is_relative_to(folder):
            why = "outside the model's folder"
        elif not target.is_file():
            why = "missing"
        if why:
            raise UsageError(
                f"{path}: tensor '{tensor.name}' keeps its data in '{location}', which is {why}; "
                "external data must be a regular file in the model's own folder"
            )


class OnnxLoader(CheckpointLoader):
    """Reads ``.onnx`` models, evaluates and times them with ONNX Runtime; pruners refuse them, saying why (an
    ONNX graph keeps no editable weights). External data must be a regular file beside the model.
    """

    priority = 30

    def load(self, path: Path, ctx: LoadContext) -> LoadedCheckpoint | None:
        import onnx

        with open(path, "rb") as f:
            head = f.read(64)
        if not head or head[:1] != b"\x08":  # an ONNX ModelProto starts with field 1 (ir_version), varint
            return None
        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception:  # noqa: BLE001 - not an ONNX model after all
            if path.suffix.lower() == ".onnx":
                raise UsageError(
                    f"{path} is named .onnx but ONNX cannot parse it (a damaged or truncated model)"
                ) from None
            return None
        check_external_data(proto, path)  # before the checker, so the refusal says why
        try:
            onnx.checker.check_model(proto)
        except Exception:  # noqa: BLE001 - not a valid ONNX model after all
            return None
        try:
            model = onnx_module_class()(path)
        except Exception as exc:  # noqa: BLE001
            raise UsageError(f"{path} is an ONNX model that ONNX Runtime cannot load: {one_line(exc)[:200]}") from None
        source = (
            f"ONNX model (opset {proto.opset_import[0].version}); evaluated and timed with ONNX "
            "Runtime; its weights are inside the ONNX graph, so no pruner can change them and "
            "per-layer embeddings cannot be captured"
        )
        return LoadedCheckpoint(
            model=model,
            architecture="onnx",
            architecture_kwargs={},
            task=None,
            dataset=None,
            source=source,
            prunable=False,
        )


@hookimpl
def gnneval_register_checkpoint_loaders(register):
    register.add_checkpoint_loader(
        "onnx", OnnxLoader, description="ONNX models (evaluated with ONNX Runtime; not prunable)"
    )
    register.add_checkpoint_loader(
        "torchscript", TorchScriptLoader, description="TorchScript archives (torch.jit.save)"
    )
    register.add_checkpoint_loader(
        "pickle", PickledModuleLoader, description="whole pickled nn.Module (torch.save(model)); only with --trust"
    )
