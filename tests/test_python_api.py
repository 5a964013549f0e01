"""gnneval.read_run: typed records, the tidy table as a DataFrame equal to `gnneval show --format csv`, embeddings
on request; the worked example of docs/python-api.md runs as written."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import pytest

import gnneval
from gnneval.cli import main
from gnneval.core.errors import UsageError

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


@pytest.fixture(scope="module")
def stored(sbm_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run"
    assert main(["evaluate", str(sbm_checkpoint), "--pruner", "structured,random", "--sparsity", "0.5",
                 "--seeds", "0,1", "--no-bench", "--no-progress", "--visualisers", "curves", "--out", str(out)]) == 0  # fmt: skip
    return out


def test_the_documented_example_runs(stored, capsys):
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    exec(compile(code.replace("runs/gcn_cora-structured", str(stored)), str(DOC), "exec"), {})
    printed = capsys.readouterr().out
    assert "structured@0.50" in printed and "random@0.50" in printed and "Spread(sd=" in printed


def test_to_pandas_equals_the_csv_export(stored, capsys):
    pd = pytest.importorskip("pandas")
    df = gnneval.read_run(stored).to_pandas()
    capsys.readouterr()
    assert main(["show", str(stored), "--format", "csv"]) == 0
    csv = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False, na_values=[""])
    assert list(df.columns) == list(csv.columns) and len(df) == len(csv)
    for col in df.columns:
        for a, b in zip(df[col], csv[col]):
            assert (
                _norm(a) == pytest.approx(_norm(b), rel=1e-12) if isinstance(_norm(a), float) else _norm(a) == _norm(b)
            ), col


def _norm(x):
    """An empty cell, None and NaN are the same missing value; numbers compare as floats."""
    if x is None or x == "" or (isinstance(x, float) and math.isnan(x)):
        return ""
    return float(x) if isinstance(x, (int, float, np.integer, np.floating)) else str(x)


def test_typed_records_and_embeddings_on_request(stored):
    run = gnneval.read_run(stored)
    assert isinstance(run, gnneval.StoredRun) and run.path == stored / "run.h5"
    assert [v.id for v in run.variants] == ["dense", "structured@0.50", "random@0.50~s0", "random@0.50~s1"]
    layer = run.shown_layer()
    x = run.embeddings("random@0.50~s1", layer)
    assert x.dtype == np.float32 and x.shape[0] == run.graph.num_nodes
    import h5py

    with h5py.File(stored / "run.h5") as f:
        ds = next(d for d in f["variants/random@0.50~s1/embeddings"].values() if d.attrs["layer"] == layer)
        assert np.array_equal(ds[()], x)
    with pytest.raises(KeyError, match="its variants: dense, structured@0.50"):
        run.embeddings("magnitude@0.50")
    with pytest.raises(KeyError, match="its layers"):
        run.embeddings("dense", "nope")
    with pytest.raises(UsageError):
        gnneval.read_run(stored / "nothing-here")


def test_to_pandas_without_pandas_says_what_to_install(stored, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_pandas(name, *a, **k):
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'gnneval\[pandas\]'"):
        gnneval.read_run(stored).to_pandas()
