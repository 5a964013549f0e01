"""The t-SNE visualiser passes the contract and aligns panels."""

import numpy as np
from gnneval_tsne import TsneMaps, align

from gnneval.testing import check_visualiser


def test_contract(gnneval_run, tmp_path):
    paths = check_visualiser(TsneMaps, gnneval_run, tmp_path)
    assert paths[0].name.startswith("tsne_")


def test_registered_through_its_entry_point(gnneval_host):
    reg = gnneval_host.registry.get("visualiser", "tsne")
    assert reg.plugin.dist == "gnneval-tsne"
    assert not reg.default and "tsne" not in gnneval_host.registry.default_names("visualiser")


def test_align_undoes_rotation_scale_and_shift():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 2))
    theta = 1.1
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    y = 3.0 * x @ rot + 7.0
    np.testing.assert_allclose(align(y, x), x, atol=1e-8)
