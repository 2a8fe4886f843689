"""Knowledge distillation: Distiller, FeatureDistiller, losses, data-free distillation."""

from tfcompress.distill.distiller import Distiller
from tfcompress.distill.feature import FeatureDistiller
from tfcompress.distill.losses import DecoupledKD, DistillationLoss, KLDivergence, StandardizedKL
from tfcompress.distill.schedule import CosineDecay
from tfcompress.distill.stage import Distill, FeatureDistill

__all__ = ["Distiller", "FeatureDistiller", "DistillationLoss", "KLDivergence", "StandardizedKL", "DecoupledKD", "CosineDecay", "Distill", "FeatureDistill"]
