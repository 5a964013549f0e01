"""Visualisers drawing side by side in forked processes: the same files as one after another, a dead or hung
drawing process reported by its visualiser's name, the longest visualiser of the last run started first."""

from __future__ import annotations

import os
import signal
import time
import types
from pathlib import Path

import pytest

from gnneval.core.problems import collecting
from gnneval.plugin import Visualiser, hookimpl
from gnneval.show import pictures
from gnneval.show.pictures import ShowSettings, can_fork, draw_all, longest_first
from gnneval.testing import plugin_host

needs_fork = pytest.mark.skipif(not can_fork(), reason="side-by-side drawing forks: Linux only")
PARENT = os.getpid()


class _DiesInChild(Visualiser):
    """Draws a picture in the main process; its forked drawing process dies before returning."""

    def draw(self, ctx):
        if os.getpid() != PARENT:
            os._exit(3)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.set_title("drawn")
        from gnneval.plugin.helpers import save_figure

        return save_figure(fig, ctx.out_dir, "dies_in_child", ctx.formats)


class _DeafHang(Visualiser):
    """Hangs with the time limit's signal blocked, so only the parent can stop it."""

    def draw(self, ctx):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(60)
        return []


def _host():
    plugin = types.SimpleNamespace(
        gnneval_register_visualisers=hookimpl(
            lambda register: (
                register.add_visualiser("dies-in-child", _DiesInChild, default=False),
                register.add_visualiser("deaf-hang", _DeafHang, default=False),
            )
        )
    )
    return plugin_host(extra=[("side-by-side-test", plugin)])


@pytest.mark.slow
@needs_fork
def test_side_by_side_draws_the_same_files_as_one_after_another(gnneval_run, tmp_path, monkeypatch):
    monkeypatch.setenv("GNNEVAL_CACHE", str(tmp_path / "cache"))
    reg = _host().registry
    names = ["curves", "quality-curves", "weights", "cka-heatmap"]
    outs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        with collecting() as problems:
            files = draw_all(reg, gnneval_run, out, names, ShowSettings(workers=workers))
        assert not problems, problems
        assert list(files) == names  # the selection's order, whatever order they were drawn in
        outs[workers] = {Path(p).name: Path(p).read_bytes() for p in files.values()}
    assert outs[1] == outs[2]


@needs_fork
def test_a_drawing_process_that_dies_is_named_and_drawn_again(gnneval_run, tmp_path, monkeypatch):
    monkeypatch.setenv("GNNEVAL_CACHE", str(tmp_path / "cache"))
    with collecting() as problems:
        files = draw_all(_host().registry, gnneval_run, tmp_path, ["dies-in-child", "curves"], ShowSettings(workers=2))
    assert set(files) == {"dies-in-child", "curves"}
    [p] = problems
    assert "visualiser 'dies-in-child'" in p.where and "exit status 3" in p.message
    assert "drawn again in the main process" in p.message


@pytest.mark.slow
@needs_fork
def test_a_hung_drawing_process_is_stopped_and_the_others_stand(gnneval_run, tmp_path, monkeypatch):
    monkeypatch.setenv("GNNEVAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pictures, "GRACE_S", 1.0)
    t0 = time.perf_counter()
    with collecting() as problems:
        files = draw_all(
            _host().registry, gnneval_run, tmp_path, ["deaf-hang", "curves"], ShowSettings(workers=2, timeout_s=1.0)
        )
    assert time.perf_counter() - t0 < 30
    assert set(files) == {"curves"}
    [p] = problems
    assert "visualiser 'deaf-hang'" in p.where and "was stopped after" in p.message
    assert not list(tmp_path.glob(".forked-*")), "the scratch folder is removed"


def test_the_longest_visualiser_of_the_last_run_starts_first(gnneval_run, tmp_path, monkeypatch):
    monkeypatch.setenv("GNNEVAL_CACHE", str(tmp_path / "cache"))
    assert longest_first(["a", "b", "c"]) == ["a", "b", "c"]  # nothing remembered: the given order
    from gnneval.core.remembered import remember

    remember(pictures.DURATIONS, {"a": 0.5, "c": 9.0})
    assert longest_first(["a", "b", "c"]) == ["b", "c", "a"]  # never timed first, then the longest
    draw_all(_host().registry, gnneval_run, tmp_path / "run", ["curves"], ShowSettings(workers=1))
    from gnneval.core.remembered import recall

    assert recall(pictures.DURATIONS)["curves"] > 0


@needs_fork
def test_map_in_processes_gives_the_list_comprehension(tmp_path):
    from gnneval.plugin.helpers import map_in_processes

    big = list(range(100_000))  # a closure over data: shared by fork, never pickled in
    assert map_in_processes(lambda k: (os.getpid(), sum(big[:k])), [10, 20, 30], workers=2) != [
        (os.getpid(), sum(big[:k])) for k in (10, 20, 30)
    ]  # computed elsewhere ...
    assert [v for _, v in map_in_processes(lambda k: (os.getpid(), sum(big[:k])), [10, 20, 30], workers=2)] == [
        sum(big[:k]) for k in (10, 20, 30)
    ]  # ... to the same values, in order

    def dies_in_child(k):
        if os.getpid() != PARENT:
            os._exit(1)
        return k * 2

    assert map_in_processes(dies_in_child, [1, 2, 3], workers=2) == [2, 4, 6]  # computed again here


@pytest.mark.slow
@needs_fork
def test_a_process_that_ran_numba_in_parallel_can_still_fork(tmp_path):
    """numba's GNU OpenMP layer kills children forked after it started; gnneval makes numba choose its
    fork-safe layer, so a UMAP picture's variant layouts can be fitted side by side.  In a fresh process
    (this one's numba may have started already)."""
    import subprocess
    import sys

    code = (
        "import os, sys, numpy as np, numba\n"
        "from gnneval.core.process import forksafe_numba\nfrom gnneval.show.forked import can_fork, fork_map\n"
        "if sys.argv[1] == 'forksafe': forksafe_numba()\n"
        "@numba.njit(parallel=True)\n"
        "def f(x):\n"
        "    s = 0.0\n"
        "    for i in numba.prange(x.size):\n"
        "        s += x[i]\n"
        "    return s\n"
        "x = np.ones(1000)\n"
        "f(x)\n"
        "print(can_fork(), numba.threading_layer(), [o.ok for o in fork_map(f, [x, x], 2)])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}  # as a fresh shell has it
    out = subprocess.run([sys.executable, "-c", code, "forksafe"], capture_output=True, text=True, timeout=300, env=env)
    assert out.stdout.split() == ["True", "workqueue", "[True,", "True]"], out.stderr[-2000:]
    # without it numba takes GNU OpenMP, whose fork handler kills every child: gnneval then does not fork
    out = subprocess.run([sys.executable, "-c", code, "as-is"], capture_output=True, text=True, timeout=300, env=env)
    assert out.stdout.split() == ["False", "omp", "[False,", "False]"], out.stderr[-2000:]
