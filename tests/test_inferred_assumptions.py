"""What the tensors cannot decide is tried, not guessed silently: a GIN trained without activations between
its layers and with max pooling (its authors' class, written here) is read from a bare state_dict; the run
tries every activation / pooling combination on the training and validation graphs, picks the authors' one,
says so, and stores the choice; the user's --arch-option fixes one; a low score names the guesses."""

from __future__ import annotations

import pytest
import torch

from gnneval.cli import main
from gnneval.store.hdf5 import read_run

ARGS = ["--pruner", "magnitude", "--sparsity", "0.5", "--no-bench", "--no-progress", "--visualisers", "curves",
        "--metrics", "accuracy", "--dataset", "MUTAG"]  # fmt: skip


class AuthorsGIN(torch.nn.Module):
    """Three GIN layers with no activation between them, max pooling, one linear head."""

    def __init__(self, c_in: int, hidden: int, c_out: int) -> None:
        from torch_geometric.nn import GINConv

        super().__init__()
        mlp = lambda a, b: torch.nn.Sequential(torch.nn.Linear(a, b), torch.nn.ReLU(), torch.nn.Linear(b, b))  # noqa: E731
        self.conv1, self.conv2, self.conv3 = (
            GINConv(mlp(c_in, hidden)),
            GINConv(mlp(hidden, hidden)),
            GINConv(mlp(hidden, hidden)),
        )
        self.lin = torch.nn.Linear(hidden, c_out)

    def forward(self, x, edge_index, batch):
        from torch_geometric.nn import global_max_pool

        x = self.conv3(self.conv2(self.conv1(x, edge_index), edge_index), edge_index)
        return self.lin(global_max_pool(x, batch))


@pytest.fixture(scope="module")
def authors_gin(shared_datasets, tmp_path_factory):
    from gnneval.builtin.datasets.tu import TUDatasetLoader
    from gnneval.plugin import DatasetContext
    from gnneval.prune.training import task_loss

    folder = tmp_path_factory.mktemp("gin")
    graph = TUDatasetLoader().load("MUTAG", DatasetContext(root=shared_datasets, cache_dir=folder / "c", seed=0))
    torch.manual_seed(0)
    model = AuthorsGIN(graph.num_features, 32, graph.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        model.train()
        opt.zero_grad()
        task_loss(model, graph).backward()
        opt.step()
    path = folder / "gin_mutag.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.slow
def test_the_authors_choices_are_found_and_said(authors_gin, shared_datasets, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["evaluate", str(authors_gin), *ARGS, "--data-root", str(shared_datasets), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "undecided by the tensors: act, act_last, pool; tried 18 combinations" in err
    assert "chose act=identity act_last=False pool=max" in err
    run = read_run(out)
    assert run.provenance.architecture_kwargs["act"] == "identity"
    assert run.provenance.architecture_kwargs["pool"] == "max"
    chosen = run.provenance.checkpoint_metadata["assumptions"]["chosen"]
    assert chosen == {"act": "identity", "act_last": "False", "pool": "max"}
    assert any("undecided by the tensors" in n for n in run.provenance.checkpoint_metadata["loader_notes"])
    n_test = int(run.dense.metrics["accuracy.test_n"])
    assert 15 <= n_test <= 25  # MUTAG's 188 graphs, 10% for testing
    capsys.readouterr()
    assert main(["show", str(out), "--wide"]) == 0
    assert f"n = {n_test} test items" in capsys.readouterr().out


@pytest.mark.slow
def test_an_arch_option_fixes_a_choice(authors_gin, shared_datasets, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["evaluate", str(authors_gin), *ARGS, "--data-root", str(shared_datasets), "--out", str(out),
                 "--arch-option", "act=none"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "undecided by the tensors: act_last, pool;" in err  # act is the user's
    assert read_run(out).provenance.architecture_kwargs["act"] == "none"


def test_a_low_score_names_the_guesses():
    from types import SimpleNamespace

    from gnneval.core.records import ShownColumn, VariantResult
    from gnneval.run.checks import baseline_findings

    notes = ["architecture: layer-stack (inferred)", "activation between layers: relu first guessed; --arch-option ..."]
    loaded = SimpleNamespace(ckpt=SimpleNamespace(notes=notes))
    dense = VariantResult(id="dense", pruner=None, sparsity=0.0, metrics={"accuracy.test": 0.35,
                                                                             "accuracy.test_majority": 0.65})  # fmt: skip
    head = ShownColumn(key="accuracy.test", level="variant", label="test acc", format="{:.1%}", role="headline")
    ((msg, where),) = baseline_findings(loaded, dense, [head])  # type: ignore[arg-type]
    assert where == "baseline" and "relu first guessed" in msg and "majority-class rate 65.0%" in msg
