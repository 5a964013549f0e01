"""Batch jobs: what one checkpoint's job is (entry, settings, key), and running it as its own process."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gnneval.core.defaults import EXIT_INCOMPLETE, EXIT_OK, PROGRESS_FILE_ENV
from gnneval.core.errors import UsageError, one_line

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors", ".onnx", ".ts", ".bin")


@dataclass
class BatchEntry:
    """One checkpoint to evaluate, with optional per-entry overrides (from a manifest)."""

    path: Path
    dataset: str | None = None
    task: str | None = None
    arch: str | None = None
    loader: str | None = None
    arch_options: dict[str, Any] = field(default_factory=dict)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    transform: str | None = None  #: torch_geometric transforms, as ``--transform``
    options: dict[str, Any] = field(default_factory=dict)  #: ``NAME.KEY: value``, as ``-o NAME.KEY=VALUE``
    finetune_epochs: int | None = None  #: as ``--finetune-epochs``
    seeds: list[int] = field(default_factory=list)  #: as ``--seeds`` (empty: the batch's)
    split: str | None = None  #: as ``--split FILE`` (relative to the manifest)
    track: list[str] = field(default_factory=list)  #: as ``--track NAME[=TARGET]``, added to the batch's


@dataclass
class BatchSettings:
    pruners: list[str]
    sparsities: list[float]
    out: Path
    seed: int = 0
    seeds: list[int] = field(default_factory=list)  #: ``--seeds``: every seeded variant once per seed
    jobs: int = 1
    timeout_s: float | None = None
    tolerance: float = 0.01  #: accuracy drop (fraction) still counted as "within tolerance"
    executor: str = "local"
    address: str | None = None
    memory_gb: float | None = (
        None  #: ``--memory-per-job``: Ray schedules each checkpoint where this much memory is free
    )
    data_root: str | None = None
    extra_args: list[str] = field(default_factory=list)  #: passed to every `gnneval evaluate`


RESULT_FORMAT = 2
"""result.json's layout: 2 has a row per variant and a summary per pruner (1, a row per pruner, is run again)."""


@dataclass
class JobResult:
    """What the driver stores for one checkpoint (``result.json``)."""

    key: str
    checkpoint: str
    sha256: str
    status: str  #: ``ok`` or ``failed``
    reason: str = ""
    seconds: float = 0.0
    run: str = ""  #: path of the run's HDF5 file
    rows: list[dict[str, Any]] = field(default_factory=list)  #: leaderboard rows, one per variant
    summary: list[dict[str, Any]] = field(default_factory=list)  #: one row per pruner (AUC, max within)
    format: int = RESULT_FORMAT


MAX_MANIFEST_BYTES = 4 << 20
"""A manifest larger than this (4 MiB: tens of thousands of entries) is refused unread."""
MAX_YAML_ALIASES = 100
"""YAML aliases a manifest may use: enough for shared options, far too few for a "billion laughs" bomb."""


def _safe_yaml(text: str) -> Any:
    """``yaml.safe_load`` with a budget on aliases, so nested anchors cannot expand to gigabytes."""
    import yaml

    class Loader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: ANN401
            if self.check_event(yaml.AliasEvent):
                Loader.aliases += 1
                if Loader.aliases > MAX_YAML_ALIASES:
                    raise ValueError(
                        f"it uses more than {MAX_YAML_ALIASES} YAML aliases (*name); write the entries out, or use JSON"
                    )
            return super().compose_node(parent, index)

    data = yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    if _expanded_size(data, {}) > MAX_MANIFEST_ITEMS:
        raise ValueError(f"its aliases expand to more than {MAX_MANIFEST_ITEMS:,} values (a YAML bomb?)")
    return data


MAX_MANIFEST_ITEMS = 1_000_000


def _expanded_size(obj: Any, memo: dict[int, int]) -> int:
    """Values ``obj`` stands for once every alias is expanded, counted without expanding (shared lists and
    dicts are counted once per reference, computed once)."""
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, dict):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in obj.items())
    elif isinstance(obj, list):
        size = 1 + sum(_expanded_size(v, memo) for v in obj)
    else:
        size = 1
    memo[id(obj)] = min(size, MAX_MANIFEST_ITEMS + 1)
    return memo[id(obj)]


def read_manifest(path: Path) -> list[BatchEntry]:
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise UsageError(
            f"manifest {path} is {path.stat().st_size:,} bytes, more than {MAX_MANIFEST_BYTES:,}; "
            "split it into several batches"
        )
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            try:
                data = _safe_yaml(text)
            except ValueError as exc:
                raise UsageError(f"manifest {path} is refused: {exc}") from None
        else:
            data = json.loads(text)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise UsageError(
            f"manifest {path} is not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'}: "
            f"{one_line(exc)[:200]}"
        ) from None
    if isinstance(data, dict):
        data = data.get("checkpoints", data.get("entries"))
    if not isinstance(data, list) or not data:
        raise UsageError(f"manifest {path} must be a list of entries (or {{checkpoints: [...]}}), each with a 'path'")
    return [_entry(path, i, item) for i, item in enumerate(data)]


_TEXT_FIELDS = ("path", "dataset", "task", "arch", "loader", "transform", "split")
_DICT_FIELDS = ("arch_options", "dataset_options", "options")
_OTHER_FIELDS = ("finetune_epochs", "seeds", "track")


def _entry(manifest: Path, i: int, item: Any) -> BatchEntry:
    """One manifest entry, every field checked: one line naming the entry and field when one is wrong."""
    if isinstance(item, str):
        item = {"path": item}
    if not isinstance(item, dict) or "path" not in item:
        raise UsageError(f"manifest {manifest}: entry {i + 1} has no 'path'")
    unknown = sorted(set(item) - set(_TEXT_FIELDS) - set(_DICT_FIELDS) - set(_OTHER_FIELDS))
    if unknown:
        raise UsageError(
            f"manifest {manifest}: entry {i + 1} has unknown field(s) {', '.join(map(str, unknown))}; "
            f"fields: {', '.join(_TEXT_FIELDS + _DICT_FIELDS + _OTHER_FIELDS)}"
        )
    for key in _TEXT_FIELDS:
        if item.get(key) is not None and not isinstance(item[key], str):
            raise UsageError(
                f"manifest {manifest}: entry {i + 1}: '{key}' must be a string, not {type(item[key]).__name__}"
            )
    for key in _DICT_FIELDS:
        if item.get(key) is not None and not isinstance(item[key], dict):
            raise UsageError(f"manifest {manifest}: entry {i + 1}: '{key}' must be a mapping of name: value")
    p = Path(item["path"])
    where = f"manifest {manifest}: entry {i + 1}"
    return BatchEntry(
        path=p if p.is_absolute() else manifest.parent / p,
        dataset=item.get("dataset"),
        task=item.get("task"),
        arch=_beside(manifest, item.get("arch")),
        loader=item.get("loader"),
        arch_options=dict(item.get("arch_options") or {}),
        dataset_options=dict(item.get("dataset_options") or {}),
        transform=item.get("transform"),
        options=dict(item.get("options") or {}),
        finetune_epochs=_whole(item.get("finetune_epochs"), where, "finetune_epochs"),
        seeds=_seed_list(item.get("seeds"), where),
        split=str(manifest.parent / item["split"])
        if item.get("split") and not Path(item["split"]).is_absolute()
        else item.get("split"),
        track=_text_list(item.get("track"), where, "track"),
    )


def _whole(value: Any, where: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"{where}: '{key}' must be a whole number of 0 or more, not {value!r}")
    return value


def _seed_list(value: Any, where: str) -> list[int]:
    """``seeds: [0, 1, 2]`` or ``seeds: "0,1,2"``."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else [value]
    try:
        return [int(str(x).strip()) for x in items]
    except ValueError:
        raise UsageError(f"{where}: 'seeds' must be whole numbers such as [0, 1, 2], not {value!r}") from None


def _text_list(value: Any, where: str, key: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise UsageError(f"{where}: '{key}' must be a string or a list of strings, not {value!r}")
    return list(items)


def _beside(manifest: Path, arch: str | None) -> str | None:
    """``models.py:GCN`` in a manifest is relative to the manifest's folder."""
    if not arch or ":" not in arch:
        return arch
    where, _, name = arch.rpartition(":")
    if where.endswith(".py") and not Path(where).is_absolute() and (manifest.parent / where).is_file():
        return f"{manifest.parent / where}:{name}"
    return arch


def discover(source: Path, exclude: Path | None = None) -> list[BatchEntry]:
    """Checkpoints of a folder (searched recursively) or of a manifest file.  In a folder, nothing inside a run
    folder (one holding a ``run.h5``: its ONNX exports and saved variants are outputs, not inputs) or inside
    ``exclude`` (the batch's own results) is taken for a checkpoint."""
    if not source.exists():
        raise UsageError(f"{source} does not exist; give a folder of checkpoints or a manifest (.yaml/.json)")
    if source.is_file():
        if source.suffix in (".yaml", ".yml", ".json"):
            return read_manifest(source)
        raise UsageError(f"{source} is a file but not a manifest (.yaml, .yml or .json)")
    outputs = {h.parent.resolve() for h in source.rglob("run.h5")}
    if exclude is not None:
        outputs.add(exclude.resolve())

    def is_output(p: Path) -> bool:
        return any(parent in outputs for parent in p.resolve().parents)

    found = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES and not is_output(p))
    if not found:
        raise UsageError(f"no checkpoint files ({', '.join(CHECKPOINT_SUFFIXES)}) under {source}")
    return [BatchEntry(path=p) for p in found]


def sha256_of(path: Path) -> str:
    from gnneval.load.checkpoint import sha256_file

    return sha256_file(path)


def job_key(entry: BatchEntry, sha: str, s: BatchSettings) -> str:
    """The job's identity: the file's content, its path (identical files are separate rows) and the settings."""
    settings = {
        "pruners": s.pruners,
        "sparsities": s.sparsities,
        "seed": s.seed,
        "seeds": s.seeds,
        "extra": s.extra_args,
        "entry": {k: v for k, v in asdict(entry).items() if k != "path"},
    }
    blob = json.dumps(
        {"sha256": sha, "path": str(entry.path.resolve()), "settings": settings}, sort_keys=True, default=str
    ).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def evaluate_command(entry: BatchEntry, s: BatchSettings, out_dir: Path) -> list[str]:
    # the absolute path: a file named '-x.pt' is a checkpoint, never an option
    cmd = [
        sys.executable,
        "-m",
        "gnneval",
        "evaluate",
        str(entry.path.resolve()),
        "--pruner",
        ",".join(s.pruners),
        "--sparsity",
        ",".join(f"{x:g}" for x in s.sparsities),
        *_seed_args(entry, s),
        "--out",
        str(out_dir),
        "--no-progress",
        "--overwrite",  # the batch owns its job folders: a job run again starts afresh
    ]
    cmd += list(s.extra_args)  # the batch's options first: an entry's own come after, and win
    for flag, value in (
        ("--dataset", entry.dataset),
        ("--task", entry.task),
        ("--arch", entry.arch),
        ("--loader", entry.loader),
        ("--data-root", s.data_root),
        ("--transform", entry.transform),
        ("--split", entry.split),
        ("--finetune-epochs", entry.finetune_epochs),
    ):
        if value is not None and value != "":
            cmd += [flag, str(value)]
    for k, v in entry.arch_options.items():
        cmd += ["--arch-option", f"{k}={json.dumps(v)}"]
    for k, v in entry.dataset_options.items():
        cmd += ["--dataset-option", f"{k}={json.dumps(v)}"]
    for k, v in entry.options.items():
        cmd += ["-o", f"{k}={json.dumps(v)}"]
    for t in entry.track:
        cmd += ["--track", t]
    return cmd


def _seed_args(entry: BatchEntry, s: BatchSettings) -> list[str]:
    seeds = entry.seeds or s.seeds
    return ["--seeds", ",".join(map(str, seeds))] if seeds else ["--seed", str(s.seed)]


def die_with_parent() -> None:
    """In the child, before it runs: ask Linux to kill it when the batch driver dies (``PR_SET_PDEATHSIG``),
    so a killed batch never leaves an evaluation running into a folder the resumed batch will use."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except OSError:  # not glibc: the run-folder lock still prevents two writers
        pass


def run_job_process(
    cmd: list[str], timeout_s: float | None, threads: int, progress_file: Path | None = None
) -> tuple[int, str]:
    """Run one evaluation in its own process; returns (exit status, one-line reason).  ``progress_file``: where
    it says how many of its variants are done (:data:`~gnneval.core.defaults.PROGRESS_FILE_ENV`)."""
    env = {**os.environ, "GNNEVAL_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    if progress_file is not None:
        env[PROGRESS_FILE_ENV] = str(progress_file)
    try:
        res = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
        )
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout_s:g} s (--timeout)"
    if res.returncode in (EXIT_OK, EXIT_INCOMPLETE):  # stored; a failed variant is a row of the leaderboard
        return 0, ""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    err = next((ln for ln in reversed(lines) if ln.startswith("gnneval: error:")), None)
    if err is None and res.returncode < 0:
        err = f"killed by signal {-res.returncode}" + (" (out of memory?)" if res.returncode == -9 else "")
    if err is not None and err.startswith("gnneval: error: "):
        err = err[len("gnneval: error: ") :]
    return res.returncode, (err or (lines[-1] if lines else f"exit status {res.returncode}"))[:300]


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_done(result_path: Path, key: str) -> JobResult | None:
    try:
        data = json.loads(result_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if data.get("key") != key or data.get("status") != "ok" or data.get("format") != RESULT_FORMAT:
        return None
    return JobResult(**data)


def run_local(
    jobs: list[tuple[BatchEntry, str, Path]],
    s: BatchSettings,
    done: Callable[[BatchEntry, int, str, float], None],
    started: Callable[[BatchEntry], None] = lambda e: None,
) -> None:
    """Run jobs as separate processes, ``s.jobs`` at a time; ``done`` is called in the driver for each."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // max(1, s.jobs))

    def one(entry, key, out_dir):
        started(entry)
        t0 = time.perf_counter()
        out_dir.mkdir(parents=True, exist_ok=True)
        cmd = evaluate_command(entry, s, out_dir)
        code, reason = run_job_process(cmd, s.timeout_s, threads, out_dir.parent / f".{out_dir.name}.progress")
        return entry, code, reason, time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=max(1, s.jobs)) as pool:
        futures = [pool.submit(one, *job) for job in jobs]
        for fut in as_completed(futures):
            done(*fut.result())
