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

import difflib
import inspect
import math

from tfcompress.errors import ConfigError


class Stage:
    """Base class of compression stages.

    Subclasses set ``name`` (the key used in recipes) and implement ``apply``.
    """

    name = None
    #: whether ``apply`` reads the training split (``x_train``/``y_train``); data-free stages say False
    needs_training_data = True
    #: whether the run judges the result against the stage's input (``tfcompress.pipeline.guard``); stages that
    #: replace the model (search) or only convert it (export) say False
    judged = True
    #: whether the stage exists to make the file smaller (pruning, clustering, factorization): a drop of accuracy
    #: then costs a warning, not the stage's result, when the file did get smaller
    reduces_size = False
    #: whether the stage trains a student with the teacher, so that a student must exist before it (distillation)
    needs_student = False
    #: whether the stage's result is a new student (a search), so that later stages have one
    provides_student = False
    #: what of the teacher beyond its outputs the stage reads (e.g. "inner layers"); None for nothing. A teacher
    #: that runs as a black box (``tfcompress.interop.blackbox``) refuses such a stage
    teacher_internals = None

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

    # -- the run's protocol (``tfcompress.pipeline.runner``): hooks with defaults that fit most stages ----------
    def measure(self, model, context, workdir):
        """The stage's result as the run reports and judges it: by default ``model`` measured as an int8 file
        (``context.measure``). ``workdir`` is the stage's work folder."""
        return context.measure(model)

    def restore(self, report):
        """A resumed run: the stage finished in an earlier run and its saved ``report`` is taken back."""
        self._report = report

    def finish(self, context, workdir):
        """Called once when every stage has run, in stage order (the export copies its files to the output)."""

    @property
    def report(self):
        """What the last ``apply`` did (JSON-able dict)."""
        return getattr(self, "_report", {})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def first_without_student(stages, has_student=False):
    """Index of the first stage (class or instance) that needs a student (``Stage.needs_student``) before any
    exists, or None. A stage with ``provides_student`` (a search) gives one to the stages after it."""
    for i, stage in enumerate(stages):
        if stage.needs_student and not has_student:
            return i
        has_student = has_student or stage.provides_student
    return None


#: The end of the message for a stage that needs a student before any exists (recipe and ``Pipeline``).
NO_STUDENT = ("needs a student to distil into, but none exists yet: add `student:` or a `search` stage before "
              "distill.")


# ---------------------------------------------------------------- option checks for stage constructors
# Each raises ``ConfigError("<stage>: <option> must be <what>, received <value>.")``, so a bad option is refused
# when the stage is built (also by ``from_config``, which the recipe reader calls before anything trains).


def stage_label(stage):
    """How messages name a stage (class or instance): ``"prune (magnitude)"``, or ``"export"`` without a method."""
    cls = stage if isinstance(stage, type) else type(stage)
    method = getattr(cls, "method", None)
    return f"{cls.name} ({method})" if method else str(cls.name)


def is_number(value, integer=False):
    """A finite int or float (an int if ``integer``); booleans are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        return False
    return math.isfinite(value)


def _bounds(low, high, low_open, high_open):
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


def check_number(stage, option, value, low=None, high=None, low_open=False, high_open=False, integer=False,
                 none=None, what=None):
    """Raise ConfigError unless ``value`` is a finite number (an int if ``integer``; never a bool) within the bounds.

    Args:
        stage: the stage (class or instance) or its label, for the message.
        option: the option's name.
        value: the value received.
        low, high: bounds (None for none); ``low_open`` / ``high_open`` exclude them.
        integer: require an ``int``. Defaults to False.
        none: when given, None is accepted too and this text says what it means (e.g. "the trainer's").
        what: the description of a valid value in the message, instead of one built from the bounds.

    Returns:
        ``value``.
    """
    if none is not None and value is None:
        return value
    ok = is_number(value, integer)
    ok = ok and (low is None or (value > low if low_open else value >= low))
    ok = ok and (high is None or (value < high if high_open else value <= high))
    if not ok:
        if what is None:
            what = ("an integer" if integer else "a number") + _bounds(low, high, low_open, high_open)
            if none is not None:
                what += f" (or null for {none})"
        refuse_option(stage, option, what, value)
    return value


def check_choice(stage, option, value, choices):
    """Raise ConfigError (with a spelling hint) unless ``value`` is one of ``choices`` (strings, or None)."""
    if not any(value is c or (isinstance(value, str) and isinstance(c, str) and value == c) for c in choices):
        listed = ", ".join("null" if c is None else repr(c) for c in choices)
        close = difflib.get_close_matches(value, [c for c in choices if isinstance(c, str)], n=1, cutoff=0.6) \
            if isinstance(value, str) else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        refuse_option(stage, option, f"one of {listed}", value, hint)
    return value


def check_flag(stage, option, value):
    """Raise ConfigError unless ``value`` is True or False (a string such as "no" would count as true)."""
    if not isinstance(value, bool):
        refuse_option(stage, option, "true or false", value)
    return value


def check_names(stage, option, value, what="a list of layer names", allow_str=False):
    """Raise ConfigError unless ``value`` is None or a list, tuple or set of strings (or a string if ``allow_str``)."""
    if value is None or (allow_str and isinstance(value, str)):
        return value
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(isinstance(n, str) for n in value):
        refuse_option(stage, option, f"{what} (or null)", value)
    return value


def check_layer_map(stage, option, value, what, **number):
    """Raise ConfigError unless ``value`` is None or a mapping layer name -> number (``check_number(**number)``)."""
    if value is None:
        return value
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        refuse_option(stage, option, f"a mapping layer name -> {what} (or null)", value)
    for key, item in value.items():
        check_number(stage, f"{option}[{key!r}]", item, **number)
    return value


def refuse_option(stage, option, what, value, hint=""):
    """Raise ``ConfigError("<stage>: <option> must be <what>, received <value>.")``."""
    label = stage if isinstance(stage, str) else stage_label(stage)
    error = ConfigError(f"{label}: {option} must be {what}, received {value!r}{hint}.")
    error.option = option.split("[")[0]  # the recipe reader points at this option's line
    raise error


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
