"""Pipelines of compression stages, YAML recipes, and the measured report.

Public names: ``Pipeline``, ``run_recipe``, ``read_recipe``, ``parse_recipe``, ``validate_recipe``,
``to_yaml``, ``ExportStage``, ``load_stages``, ``run_demo``.
"""

from tfcompress.pipeline.pipeline import Pipeline, run_recipe, stage_entry
from tfcompress.pipeline.recipe import parse_recipe, read_recipe, to_yaml, validate_recipe
from tfcompress.pipeline.registry import load_stages
from tfcompress.pipeline.export_stage import ExportStage


def run_demo(*args, **kwargs):
    """See ``tfcompress.pipeline.demo.run_demo``."""
    from tfcompress.pipeline.demo import run_demo as _run_demo

    return _run_demo(*args, **kwargs)


__all__ = ["Pipeline", "run_recipe", "stage_entry", "read_recipe", "parse_recipe", "validate_recipe", "to_yaml",
           "ExportStage", "load_stages", "run_demo"]
