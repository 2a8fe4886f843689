"""Knowledge distillation: Distiller, FeatureDistiller, losses, data-free distillation."""

from tfcompress.distill.data_free import DataFreeDistill, DataFreeDistiller
from tfcompress.distill.distiller import Distiller
from tfcompress.distill.feature import FeatureDistiller
from tfcompress.distill.generator import build_generator
from tfcompress.distill.losses import DecoupledKD, DistillationLoss, KLDivergence, StandardizedKL
from tfcompress.distill.schedule import CosineDecay, TimeLimit
from tfcompress.distill.specs import FeatureDistillation, LogitsDistillation
from tfcompress.distill.stages import Distill, FeatureDistill

__all__ = [
    "Distiller", "FeatureDistiller", "DataFreeDistiller", "DistillationLoss", "KLDivergence", "StandardizedKL",
    "DecoupledKD", "CosineDecay", "TimeLimit", "Distill", "FeatureDistill", "DataFreeDistill", "build_generator",
    "LogitsDistillation", "FeatureDistillation",
]
