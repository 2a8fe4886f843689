"""Pruning: TFMOT magnitude and m-by-n sparsity, gradient-based masks, channel pruning, summaries.

Each technique is a registered stage (recipe key ``prune``, methods ``magnitude`` (default),
``m_by_n``, ``gradient``, ``channel``) and a set of plain functions usable without stages.

Channel pruning keeps three roles apart: ``ChannelGraph`` (which channels are tied), the importance criteria
(``get_importance``) and the pruner (``plan_channels`` / ``prune_channels``), with ``recalibrate_batch_norm``,
``sensitivity_scan`` and ``allocate`` around them.
"""

from tfcompress.prune.batchnorm import recalibrate_batch_norm
from tfcompress.prune.channel import channel_counts, group_counts, plan_channels, prune_channels
from tfcompress.prune.graph import ChannelGraph, Group
from tfcompress.prune.importance import Importance, get_importance, importance_names, register_importance
from tfcompress.prune.plan import PruningPlan
from tfcompress.prune.rebuild import zero_channels
from tfcompress.prune.sensitivity import SensitivityTable, allocate, sensitivity_scan
from tfcompress.prune.gradient import MaskEnforcer, apply_masks, gradient_importance, masks_from_scores, prune_gradient
from tfcompress.prune.magnitude import prune_magnitude, pruning_callbacks, strip, wrap_for_pruning
from tfcompress.prune.schedule import make_schedule, steps_per_epoch
from tfcompress.prune.select import DEFAULT_EXCLUDE, layer_targets, resolve_exclude
from tfcompress.prune.stages import ChannelPruning, GradientPruning, MagnitudePruning, MbyNPruning
from tfcompress.prune.structured import check_m_by_n, is_m_by_n_sparse, prune_m_by_n
from tfcompress.prune.summary import format_summary, sparsity_summary, stage_report, total_sparsity

__all__ = [
    "ChannelGraph",
    "ChannelPruning",
    "DEFAULT_EXCLUDE",
    "GradientPruning",
    "Group",
    "Importance",
    "MagnitudePruning",
    "MaskEnforcer",
    "MbyNPruning",
    "PruningPlan",
    "SensitivityTable",
    "allocate",
    "apply_masks",
    "channel_counts",
    "check_m_by_n",
    "format_summary",
    "get_importance",
    "gradient_importance",
    "group_counts",
    "importance_names",
    "is_m_by_n_sparse",
    "layer_targets",
    "make_schedule",
    "masks_from_scores",
    "plan_channels",
    "prune_channels",
    "prune_gradient",
    "prune_m_by_n",
    "prune_magnitude",
    "pruning_callbacks",
    "recalibrate_batch_norm",
    "register_importance",
    "resolve_exclude",
    "sensitivity_scan",
    "sparsity_summary",
    "stage_report",
    "steps_per_epoch",
    "strip",
    "total_sparsity",
    "wrap_for_pruning",
    "zero_channels",
]
