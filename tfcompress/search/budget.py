"""The size, memory and latency budget a searched student must meet.

A ``Budget`` bounds what is measured on the exported file, never estimated:
the bytes of the int8 ``.tflite`` file (flash), the number of parameters, the
tensor arena TensorFlow Lite Micro needs to run it (peak RAM, measured by
``tfcompress.export.tflm.measure_arena``), and the latency of one inference in
the LiteRT interpreter.  Size, arena and parameters are known before any
training (convert the untrained candidate), so a candidate that cannot fit is
rejected without a training run.
"""

import math

from tfcompress.errors import ConfigError

_FIELDS = (("max_bytes", "int8_bytes", "bytes"), ("max_params", "params", "parameters"),
           ("max_arena_bytes", "arena_bytes", "bytes"), ("max_latency_us", "latency_us", "µs"))
#: The keys of a budget, as recipes write them.
KEYS = tuple(bound for bound, _, _ in _FIELDS)


class Budget:
    """Upper bounds on the int8 file size, the parameter count, the TFLM arena and the latency of a student.

    Every bound is optional; ``Budget()`` accepts everything.

    Args:
        max_bytes: largest allowed size of the int8 ``.tflite`` file in bytes. Defaults to None.
        max_params: largest allowed number of parameters (trainable and not). Defaults to None.
        max_arena_bytes: largest allowed tensor arena of TensorFlow Lite Micro in bytes (the peak RAM the model
            needs on a microcontroller), measured on the int8 file. Defaults to None.
        max_latency_us: largest allowed median latency of one inference in microseconds, as measured by
            ``tfcompress.export.measure_latency``. Defaults to None.

    Raises:
        ConfigError: if a bound is not a positive finite number.

    Example:
        >>> b = Budget(max_bytes=20000)
        >>> b.violations({"int8_bytes": 25000, "params": 900})
        ['int8_bytes 25000 > max_bytes 20000']
        >>> Budget.from_config(b.get_config()) == b
        True
    """

    def __init__(self, max_bytes=None, max_params=None, max_latency_us=None, max_arena_bytes=None):
        for name, value in (("max_bytes", max_bytes), ("max_params", max_params),
                            ("max_latency_us", max_latency_us), ("max_arena_bytes", max_arena_bytes)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise ConfigError(f"Budget: expected {name} to be a positive number or None, received "
                                  f"{value!r}. Fix: pass e.g. {name}=50000, or leave it out for no bound.")
        self.max_bytes = max_bytes
        self.max_params = max_params
        self.max_latency_us = max_latency_us
        self.max_arena_bytes = max_arena_bytes

    def ceiling(self):
        """The upper bounds alone (subclasses with lower bounds return a plain ``Budget``)."""
        return self

    def get_config(self):
        config = {"max_bytes": self.max_bytes, "max_params": self.max_params, "max_latency_us": self.max_latency_us}
        if self.max_arena_bytes is not None:  # older recipes and saved searches have no such key
            config["max_arena_bytes"] = self.max_arena_bytes
        return config

    @classmethod
    def from_config(cls, config):
        """A ``Budget`` from a dict of bounds; ``board`` (``tfcompress.search.boards``) gives the flash and RAM of a
        board, and the bounds beside it override them."""
        config = dict(config or {})
        if "board" in config:
            from tfcompress.search.boards import board_budget

            config = dict(board_budget(config.pop("board")), **config)
        try:
            return cls(**config)
        except TypeError as exc:
            raise ConfigError(f"Budget: {exc}; valid keys: {', '.join(KEYS)}, board.") from None

    @classmethod
    def coerce(cls, budget):
        """A ``Budget`` from a Budget, a config dict or None."""
        if budget is None:
            return cls()
        if isinstance(budget, cls):
            return budget
        if isinstance(budget, dict):
            return cls.from_config(budget)
        raise ConfigError(f"expected a Budget, a dict such as {{'max_bytes': 50000}} or None, received "
                          f"{type(budget).__name__} {budget!r}.")

    @property
    def is_unbounded(self):
        return all(getattr(self, bound) is None for bound in KEYS)

    @property
    def needs_latency(self):
        return self.max_latency_us is not None

    @property
    def needs_arena(self):
        return self.max_arena_bytes is not None

    def violations(self, measured):
        """Human-readable list of the bounds that ``measured`` breaks (empty if it fits).

        Args:
            measured: dict that may hold ``int8_bytes``, ``params``, ``arena_bytes`` and ``latency_us``; a
                missing measurement is not checked.
        """
        out = []
        for bound, key, _ in _FIELDS:
            limit = getattr(self, bound)
            value = measured.get(key)
            if limit is not None and value is not None and value > limit:
                out.append(f"{key} {_fmt(value)} > {bound} {_fmt(limit)}")
        return out

    def fits(self, measured):
        return not self.violations(measured)

    def __eq__(self, other):
        return isinstance(other, Budget) and self.get_config() == other.get_config()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if v is not None)
        return f"Budget({args})"


def expand_budget(budget):
    """A budget dict with a ``board`` preset replaced by its bounds and unset bounds left out (None stays None).

    Example:
        >>> expand_budget({"board": "stm32f746", "max_bytes": 200000})
        {'max_bytes': 200000, 'max_arena_bytes': 327680}
    """
    if not isinstance(budget, dict):
        return budget
    config = Budget.from_config(budget).get_config()
    return {k: v for k, v in config.items() if v is not None}


def _fmt(value):
    return f"{value:.1f}" if isinstance(value, float) and not float(value).is_integer() else f"{int(value)}"


__all__ = ["Budget", "KEYS", "expand_budget"]
