"""gnneval show --format json/csv/markdown: one tidy table whose numbers equal run.h5's, value by value."""

from __future__ import annotations

import csv
import io
import json

from gnneval.cli import main
from gnneval.store.hdf5 import read_run
from gnneval.store.tidy import COLUMNS


def _expected(run) -> dict[tuple[str, str, str], float]:
    out = {}
    for v in run.variants:
        for key, value in v.metrics.items():
            out[(v.id, "", key)] = value
        for layer, values in v.layer_metrics.items():
            for key, value in values.items():
                out[(v.id, layer, key)] = value
    return out


def test_json_and_csv_round_trip_to_the_numbers_of_the_run_file(gnneval_run, tmp_path, capsys):
    import math

    from gnneval.store.hdf5 import write_run

    h5 = tmp_path / "run.h5"
    write_run(h5, gnneval_run)
    run = read_run(h5)
    assert main(["show", str(h5), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (
        doc["columns"] == list(COLUMNS) and doc["provenance"]["checkpoint_sha256"] == run.provenance.checkpoint_sha256
    )
    got = {(r["variant"], r["layer"], r["metric"]): r for r in doc["rows"]}
    expected = _expected(run)
    for (vid, layer, key), value in expected.items():
        base = next((key[: -len(s)] for s in ("_ci_low", "_ci_high", "_n") if key.endswith(s)), None)
        if base is not None and (vid, layer, base) in got:
            field = {"_ci_low": "ci_low", "_ci_high": "ci_high", "_n": "n"}[key[len(base) :]]
            assert got[(vid, layer, base)][field] == value, (vid, layer, key)
        elif math.isfinite(value):
            assert got[(vid, layer, key)]["value"] == value, (vid, layer, key)
    assert main(["show", str(h5), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == len(doc["rows"])
    for row, j in zip(rows, doc["rows"]):
        assert row["metric"] == j["metric"] and (row["value"] == "" if j["value"] is None
                                                  else float(row["value"]) == j["value"])  # fmt: skip
    assert main(["show", str(h5), "--format", "markdown"]) == 0
    md = capsys.readouterr().out.splitlines()
    assert md[0].startswith("| variant | pruner |") and len(md) == len(doc["rows"]) + 2
