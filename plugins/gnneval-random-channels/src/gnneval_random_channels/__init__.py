"""gnneval plugin: structured pruning of randomly chosen hidden channels (a baseline)."""

from __future__ import annotations

from gnneval.plugin import ChannelGroup, ChannelPruner, PruneContext, hookimpl

__version__ = "0.1.0"


class RandomChannelPruner(ChannelPruner):
    """Keeps a uniformly random, seeded subset of each layer's hidden channels."""

    criterion = "random"

    def score_channels(self, group: ChannelGroup, index: int, ctx: PruneContext):
        import torch

        return torch.rand(group.channels, generator=ctx.generator(salt=index), dtype=torch.float64)


@hookimpl
def gnneval_register_pruners(register):
    register.add_pruner(
        "random-channels",
        RandomChannelPruner,
        description="structured baseline: removes randomly chosen hidden channels (seeded)",
    )
