"""The stage protocol shared by every compression technique.

A stage is configured only by its constructor (explicit keyword arguments,
stored unchanged as attributes of the same names); ``get_config()`` returns
exactly those arguments and ``from_config(config)`` is ``cls(**config)``, so a
recipe file, the command line and Python code describe the same thing.

``apply(model, trainer)`` does the work: it returns a new ``tf_keras`` model
(compressed, fine-tuned through ``trainer`` and with any training-time
wrappers stripped) and records what it did in ``self.report`` (a JSON-able
dict).
"""

import inspect

from tfcompress.errors import ConfigError


class Stage:
    """Base class of compression stages.

    Subclasses set ``name`` (the key used in recipes) and implement ``apply``.
    """

    name = None
    #: whether ``apply`` reads the training split (``x_train``/``y_train``); data-free stages say False
    needs_training_data = True

    def get_config(self):
        params = inspect.signature(type(self).__init__).parameters
        names = [p for p, v in params.items() if p != "self" and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)]
        return {p: getattr(self, p) for p in names}

    @classmethod
    def from_config(cls, config):
        try:
            return cls(**config)
        except TypeError as exc:
            raise ConfigError(f"stage {cls.name!r}: {exc}") from None

    def apply(self, model, trainer):
        """Compress ``model``; fine-tune with ``trainer`` (a ``tfcompress.Trainer``); return the new model."""
        raise NotImplementedError

    @property
    def report(self):
        """What the last ``apply`` did (JSON-able dict)."""
        return getattr(self, "_report", {})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


_REGISTRY = {}


def register_stage(cls):
    """Class decorator: make a stage available to recipes under ``cls.name`` (and ``cls.method``).

    A recipe entry ``prune: {method: channel, ...}`` looks up ``("prune", "channel")``; an entry
    without ``method`` takes the class whose ``default_method`` is True for that name.
    """
    if not cls.name:
        raise ConfigError(f"{cls.__name__} has no stage name")
    _REGISTRY[(cls.name, getattr(cls, "method", None))] = cls
    return cls


def registered_stages():
    """Mapping ``(name, method) -> class`` of every registered stage."""
    return dict(_REGISTRY)


def get_stage_class(name, method=None):
    """The stage class for a recipe key and optional method; a clear error lists the valid choices."""
    if method is None:
        for (key, _), cls in _REGISTRY.items():
            if key == name and (getattr(cls, "default_method", False) or getattr(cls, "method", None) is None):
                return cls
    elif (name, method) in _REGISTRY:
        return _REGISTRY[(name, method)]
    names = sorted({k for k, _ in _REGISTRY})
    if name not in names:
        raise ConfigError(f"unknown stage {name!r}; valid stages: {', '.join(names)}.")
    methods = sorted(m for k, m in _REGISTRY if k == name and m)
    raise ConfigError(f"stage {name!r} has no method {method!r}; valid methods: {', '.join(methods)}.")
