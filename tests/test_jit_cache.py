"""numba's compilation is paid once per machine: a package imported through ``import_cached`` has its
numba functions cached in gnneval's cache directory, and a second process loads them instead of compiling."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

numba = pytest.importorskip("numba")

PACKAGE = textwrap.dedent("""
    import numba

    @numba.njit
    def double(x):
        return 2 * x

    @numba.njit(cache=False)
    def uncached(x):  # the package's own choice is kept
        return x + 1
""")


def _run(code: str, tmp_path, cache) -> str:
    env = {"PYTHONPATH": str(tmp_path), "GNNEVAL_CACHE": str(cache), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.slow
def test_a_package_s_numba_functions_compile_once_per_machine(tmp_path):
    (tmp_path / "jitpkg").mkdir()
    (tmp_path / "jitpkg" / "__init__.py").write_text(PACKAGE)
    cache = tmp_path / "cache"
    code = textwrap.dedent("""
        import numba
        from gnneval.show.jit_cache import cache_folder, import_cached
        pkg = import_cached("jitpkg")
        assert pkg.double(21) == 42 and pkg.uncached(1) == 2
        assert numba.njit.__module__.startswith("numba")  # numba's own decorator is back
        @numba.njit
        def elsewhere(x):  # code outside the package is untouched
            return x
        elsewhere(1)
        stats = pkg.double.stats
        print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()), type(elsewhere._cache).__name__,
              type(pkg.uncached._cache).__name__, cache_folder("jitpkg"))
    """)
    first = _run(code, tmp_path, cache).split()
    second = _run(code, tmp_path, cache).split()
    assert first[2] == "NullCache" and first[3] == "NullCache"
    assert (first[0], first[1]) == ("0", "1")  # the first process compiles...
    assert (second[0], second[1]) == ("1", "0")  # ...the second loads it from disk
    assert any(cache.rglob("*.nbi")), "no numba index was written under gnneval's cache"
    assert first[4].startswith(str(cache)) and "numba" in first[4] and "jitpkg" in first[4]
