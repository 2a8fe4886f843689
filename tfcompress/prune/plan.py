"""A pruning plan: which channels of each group a pruned model keeps.

``plan_channels`` (in ``tfcompress.prune.channel``) makes one from importance scores; ``prune_channels``
rebuilds a smaller model from it, and ``zero_channels`` zeroes the same channels in a copy of the original
instead, so that a test (or a sensitivity scan) can check that the two compute the same thing.
"""

import numpy as np

from tfcompress.errors import ConfigError


class PruningPlan:
    """Group name -> sorted indices of the channels kept; groups not named keep all their channels.

    Args:
        keep: dict group name -> iterable of kept channel indices (unique, in ``range(size)``, at least one).
        sizes: dict group name -> number of channels of the group in the original model.

    Raises:
        ConfigError: a group of ``keep`` is missing from ``sizes``, or its indices are empty, repeated or out
            of range.

    Example:
        >>> plan = PruningPlan({"conv0": [0, 2]}, {"conv0": 4, "conv1": 8})
        >>> plan.counts()
        {'conv0': 2, 'conv1': 8}
        >>> plan.dropped("conv0").tolist()
        [1, 3]
    """

    def __init__(self, keep, sizes):
        self.sizes = {str(k): int(v) for k, v in dict(sizes).items()}
        self.keep = {}
        for name, indices in dict(keep).items():
            if name not in self.sizes:
                raise ConfigError(f"pruning plan names group {name!r}, which is not one of the model's groups "
                                  f"({', '.join(list(self.sizes)[:8])}{', ...' if len(self.sizes) > 8 else ''}).")
            kept = np.unique(np.asarray(list(indices), dtype="int64"))
            if kept.size == 0 or kept.size != len(list(indices)) or kept[0] < 0 or kept[-1] >= self.sizes[name]:
                raise ConfigError(f"pruning plan for group {name!r} must keep at least one of its "
                                  f"{self.sizes[name]} channels, each once, as indices in [0, "
                                  f"{self.sizes[name]}); received {list(indices)!r}.")
            self.keep[name] = kept

    @classmethod
    def full(cls, graph):
        """The plan that keeps every channel of ``graph`` (a ``ChannelGraph``)."""
        return cls({}, {g.name: g.size for g in graph.groups.values()})

    def kept(self, name):
        """Sorted kept indices of a group."""
        return self.keep.get(name, np.arange(self.sizes[name]))

    def dropped(self, name):
        """Sorted indices of the channels a group loses."""
        return np.setdiff1d(np.arange(self.sizes[name]), self.kept(name))

    def counts(self):
        """dict group name -> channels kept."""
        return {name: int(self.kept(name).size) for name in self.sizes}

    def resolve(self, graph):
        """dict group name -> kept indices for ``graph``, after checking that the plan fits it.

        Raises:
            ConfigError: the plan was made for another model (a group is missing or has another size), or it
                drops channels of a fixed group.
        """
        for name, size in self.sizes.items():
            group = graph.groups.get(name)
            if group is None or group.size != size:
                got = "no such group" if group is None else f"{group.size} channels"
                raise ConfigError(f"the pruning plan does not fit model {graph.model.name!r}: group {name!r} has "
                                  f"{size} channels in the plan and {got} in the model. Fix: make the plan from "
                                  "this model (plan_channels).")
        for name in self.keep:
            if graph.groups[name].fixed and self.keep[name].size != self.sizes[name]:
                raise ConfigError(f"the pruning plan drops channels of group {name!r}, which cannot be pruned "
                                  f"({graph.groups[name].fixed}). Fix: keep all its channels.")
        return {name: self.kept(name) for name in graph.groups}

    def get_config(self):
        """JSON-able form: ``{"keep": {name: [indices]}, "sizes": {name: size}}``."""
        return {"keep": {k: v.tolist() for k, v in self.keep.items()}, "sizes": dict(self.sizes)}

    @classmethod
    def from_config(cls, config):
        return cls(config["keep"], config["sizes"])

    def __eq__(self, other):
        return (isinstance(other, PruningPlan) and self.sizes == other.sizes
                and all(np.array_equal(self.kept(n), other.kept(n)) for n in self.sizes))

    def __repr__(self):
        pruned = {n: f"{c}/{self.sizes[n]}" for n, c in self.counts().items() if c != self.sizes[n]}
        return f"PruningPlan({pruned})"


__all__ = ["PruningPlan"]
