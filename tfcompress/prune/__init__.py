"""Pruning: TFMOT magnitude and m-by-n sparsity, gradient-based masks, channel pruning, summaries.

Each technique is a registered stage (recipe key ``prune``, methods ``magnitude`` (default),
``m_by_n``, ``gradient``, ``channel``) and a set of plain functions usable without stages.
"""

from tfcompress.prune.magnitude import (MagnitudePruning, prune_magnitude, pruning_callbacks, strip,
                                        wrap_for_pruning)
from tfcompress.prune.schedule import make_schedule, steps_per_epoch
from tfcompress.prune.select import DEFAULT_EXCLUDE, layer_targets, resolve_exclude
from tfcompress.prune.structured import MbyNPruning, check_m_by_n, is_m_by_n_sparse, prune_m_by_n
from tfcompress.prune.summary import format_summary, sparsity_summary, total_sparsity

__all__ = [
    "DEFAULT_EXCLUDE",
    "MagnitudePruning",
    "MbyNPruning",
    "check_m_by_n",
    "format_summary",
    "is_m_by_n_sparse",
    "layer_targets",
    "make_schedule",
    "prune_m_by_n",
    "prune_magnitude",
    "pruning_callbacks",
    "resolve_exclude",
    "sparsity_summary",
    "steps_per_epoch",
    "strip",
    "total_sparsity",
    "wrap_for_pruning",
]
