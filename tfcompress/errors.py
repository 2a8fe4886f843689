"""Error taxonomy of tfcompress.

Every error says what was expected, what was received, and how to fix it.
``TFCompressError`` is the root; subclasses also derive from the builtin that
a Python user would catch for the same mistake.
"""


class TFCompressError(Exception):
    """Base class of every error raised on purpose by tfcompress."""


class ConfigError(TFCompressError, ValueError):
    """A stage, recipe or argument is configured wrongly."""


class ShapeError(TFCompressError, ValueError):
    """Shapes of models or data do not fit together."""


class DataError(TFCompressError, ValueError):
    """Data are missing, empty, non-finite or labelled wrongly."""


class ModelError(TFCompressError, ValueError):
    """A model cannot be used as given (not built, wrong flavour, unknown layer)."""


class KerasFlavourError(TFCompressError, RuntimeError):
    """TensorFlow was imported with Keras 3 before tfcompress could select tf_keras."""


class BudgetError(TFCompressError, ValueError):
    """No candidate can meet the size or latency budget."""


class ConversionError(TFCompressError, RuntimeError):
    """A model could not be converted or verified as TFLite."""


class TrainingError(TFCompressError, RuntimeError):
    """Training diverged (for example the loss became NaN)."""
