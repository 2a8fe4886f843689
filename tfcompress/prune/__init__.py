"""Pruning: TFMOT magnitude and m-by-n sparsity, gradient-based masks, channel pruning, summaries.

Each technique is a registered stage (recipe key ``prune``, methods ``magnitude`` (default),
``m_by_n``, ``gradient``, ``channel``) and a set of plain functions usable without stages.
"""

from tfcompress.prune.channel import ChannelPruning, channel_counts, layer_chain, prune_channels
from tfcompress.prune.gradient import (GradientPruning, MaskEnforcer, apply_masks, gradient_importance,
                                       masks_from_scores, prune_gradient)
from tfcompress.prune.magnitude import (MagnitudePruning, prune_magnitude, pruning_callbacks, strip,
                                        wrap_for_pruning)
from tfcompress.prune.schedule import make_schedule, steps_per_epoch
from tfcompress.prune.select import DEFAULT_EXCLUDE, layer_targets, resolve_exclude
from tfcompress.prune.structured import MbyNPruning, check_m_by_n, is_m_by_n_sparse, prune_m_by_n
from tfcompress.prune.summary import format_summary, sparsity_summary, stage_report, total_sparsity

__all__ = [
    "ChannelPruning",
    "DEFAULT_EXCLUDE",
    "GradientPruning",
    "MagnitudePruning",
    "MaskEnforcer",
    "MbyNPruning",
    "apply_masks",
    "channel_counts",
    "check_m_by_n",
    "format_summary",
    "gradient_importance",
    "is_m_by_n_sparse",
    "layer_chain",
    "layer_targets",
    "make_schedule",
    "masks_from_scores",
    "prune_channels",
    "prune_gradient",
    "prune_m_by_n",
    "prune_magnitude",
    "pruning_callbacks",
    "resolve_exclude",
    "sparsity_summary",
    "stage_report",
    "steps_per_epoch",
    "strip",
    "total_sparsity",
    "wrap_for_pruning",
]
