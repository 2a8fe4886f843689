"""Import every module that registers stages, from one place.

Recipes look stages up by key (``prune``, ``quantize``, ...) in the registry of
``tfcompress.stage``; a stage class is registered when its module is imported.
``load_stages()`` imports them all so that a recipe can name any of them.
"""

import importlib

from tfcompress.stage import get_stage_class, registered_stages

#: Modules whose import registers stages (the export stage lives in this package).
STAGE_MODULES = (
    "tfcompress.pipeline.export_stage",
    "tfcompress.search",
    "tfcompress.distill",
    "tfcompress.prune",
    "tfcompress.quantize",
    "tfcompress.lowrank",
)

_loaded = False


def load_stages():
    """Import the stage modules (once), so every stage is registered.

    Raises:
        ImportError: a technique's module cannot be imported (a broken install); not hidden, since a recipe
            naming its stage would otherwise fail with a misleading "unknown stage".
    """
    global _loaded
    if not _loaded:
        for module in STAGE_MODULES:
            importlib.import_module(module)
        _loaded = True


def stage_names():
    """Sorted recipe keys of every registered stage."""
    load_stages()
    return sorted({name for name, _ in registered_stages()})


def stage_methods(name):
    """Sorted methods registered for the recipe key ``name`` (empty if the key has a single class)."""
    load_stages()
    return sorted(m for k, m in registered_stages() if k == name and m)


def canonical_name(key):
    """The registered spelling of a recipe key (``feature-distill`` and ``feature_distill`` are the same), or None."""
    names = stage_names()
    for candidate in (key, key.replace("-", "_"), key.replace("_", "-")):
        if candidate in names:
            return candidate
    return None


#: Boolean recipe options that select a method: ``distill: {data_free: true}`` is ``distill: {method: data_free}``.
METHOD_FLAGS = {("distill", "data_free"): "data_free"}


def normalize_options(name, options):
    """Options of a recipe entry with method flags (see ``METHOD_FLAGS``) turned into ``method``."""
    options = dict(options)
    for (key, flag), method in METHOD_FLAGS.items():
        if key == name and flag in options:
            if options.pop(flag) is True:
                options.setdefault("method", method)
    return options


def stage_class(key, method=None):
    """The stage class for a recipe key and optional method (see ``tfcompress.stage.get_stage_class``)."""
    load_stages()
    return get_stage_class(canonical_name(key) or key, method)


def stage_entry(stage):
    """A stage as a one-key recipe entry ``{name: {method?, options...}}``."""
    config = dict(stage.get_config())
    method = getattr(type(stage), "method", None)
    if method is not None and "method" not in config:
        config = {"method": method, **config}
    return {stage.name: config}


__all__ = ["stage_entry", "STAGE_MODULES", "load_stages", "stage_names", "stage_methods", "canonical_name",
           "stage_class", "normalize_options", "METHOD_FLAGS"]
