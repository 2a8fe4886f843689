"""The "search" stage: a recipe entry that replaces the model by the best searched student."""

import copy

from tfcompress.errors import ConfigError
from tfcompress.search.budget import Budget
from tfcompress.search.search import search_student
from tfcompress.stage import Stage, check_number, register_stage


class FillBudget(Budget):
    """A byte budget that also rejects candidates too small to use it (int8 bytes < ``min_fill * max_bytes``).

    The lower bound applies to a fully measured candidate (with its latency, as every search trial is
    measured); the reachability check before a search uses ``ceiling()``, the upper bounds alone, so the
    smallest candidate of the space is not refused for being small. A candidate with more parameters
    than ``max_bytes`` is rejected before its conversion (an int8 file holds at least a byte per weight).
    """

    def __init__(self, min_fill=0.5, **bounds):
        super().__init__(**bounds)
        self.min_fill = float(min_fill)

    def ceiling(self):
        return Budget(**super().get_config())

    def violations(self, measured):
        out = super().violations(measured)
        if not out and measured.get("int8_bytes") is None and measured.get("params", 0) > self.max_bytes:
            out.append(f"params {measured['params']} > max_bytes {self.max_bytes} (an int8 file holds at least "
                       "a byte per weight)")
        size = measured.get("int8_bytes")
        if not out and "latency_us" in measured and size is not None and size < self.min_fill * self.max_bytes:
            out.append(f"int8_bytes {size} < min_fill {self.min_fill:g} x max_bytes {self.max_bytes} "
                       "(leaves the budget unused)")
        return out


@register_stage
class SearchStage(Stage):
    """Search a student architecture under a budget, every trial distilled from the teacher.

    ``apply(model, trainer)`` takes ``model`` as the teacher only for its input shape and number of
    classes (the trainer's teacher guides the trials) and returns the best student.

    Args:
        family: "auto", "cnn", "mlp", "mobilenet" or "resnet" (``tfcompress.search.spaces.make_space``).
            Defaults to "auto".
        max_trials: trials to train (budget rejections do not count). Defaults to 8.
        epochs: distillation epochs per trial. Defaults to 4.
        oracle: "random", "bayesian" or "hyperband". Defaults to "random".
        budget: dict with any of ``max_bytes``, ``max_params``, ``max_latency_us``. Defaults to None.
        final_epochs: further distillation epochs of the best student. Defaults to 0.
        reward: None (val accuracy) or "mnas". Defaults to None.
        seed: Defaults to 0.
        directory: tuner folder (resumable); None for the trainer's workdir. Defaults to None.
        learning_rate: peak learning rate of the trials and the final distillation; None for the
            trainer's. Defaults to None.
        min_fill: with a ``max_bytes`` budget, skip (without training, like an over-budget candidate) the
            candidates whose int8 file is smaller than ``min_fill * max_bytes``: they leave the budget unused
            and short trials rank them poorly. None keeps every candidate. Defaults to None.
        max_seconds: start no trial that would end after this many seconds (``search_student``). Defaults to
            None.

    Example:
        >>> stage = SearchStage(family="mlp", max_trials=4, budget={"max_bytes": 20000})
        >>> SearchStage.from_config(stage.get_config()).get_config() == stage.get_config()
        True
    """

    name = "search"
    judged = False  # it replaces the model by a student
    provides_student = True

    def __init__(self, family="auto", max_trials=8, epochs=4, oracle="random", budget=None, final_epochs=0,
                 reward=None, seed=0, directory=None, learning_rate=None, min_fill=None, max_seconds=None):
        budget_obj = Budget.coerce(budget)  # validate early
        from tfcompress.search.search import _check_args
        from tfcompress.search.spaces import FAMILIES

        if not isinstance(family, str) or family not in FAMILIES:
            raise ConfigError(f"search: family must be one of {', '.join(FAMILIES)}, received {family!r}.")
        _check_args(max_trials, epochs, oracle, reward, budget_obj, final_epochs)
        if isinstance(max_trials, bool) or isinstance(epochs, bool) or isinstance(final_epochs, bool):
            raise ConfigError("search: max_trials, epochs and final_epochs must be integers, not true/false.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ConfigError(f"search: seed must be an integer >= 0, received {seed!r}.")
        if directory is not None and not isinstance(directory, str):
            raise ConfigError(f"search: directory must be a path, received {directory!r}.")
        if min_fill is not None and not (isinstance(min_fill, (int, float)) and not isinstance(min_fill, bool)
                                         and 0 < min_fill < 1):
            raise ConfigError(f"search: min_fill must be a number in (0, 1) or None, received {min_fill!r}.")
        check_number(self, "learning_rate", learning_rate, low=0, low_open=True, none="the trainer's")
        check_number(self, "max_seconds", max_seconds, low=0, low_open=True, none="no limit")
        self.max_seconds = max_seconds
        self.family = family
        self.max_trials = max_trials
        self.epochs = epochs
        self.oracle = oracle
        self.budget = budget
        self.final_epochs = final_epochs
        self.reward = reward
        self.seed = seed
        self.directory = directory
        self.learning_rate = learning_rate
        self.min_fill = min_fill

    def apply(self, model, trainer):
        if self.learning_rate is not None:
            trainer = copy.copy(trainer)
            trainer.learning_rate = self.learning_rate
        budget = Budget.coerce(self.budget)
        if self.min_fill is not None and budget.max_bytes:
            budget = FillBudget(min_fill=self.min_fill, **budget.get_config())
        result = search_student(trainer, teacher=model, family=self.family, max_trials=self.max_trials,
                                epochs=self.epochs, oracle=self.oracle, budget=budget,
                                final_epochs=self.final_epochs, reward=self.reward, seed=self.seed,
                                directory=self.directory, max_seconds=self.max_seconds)
        if result is None:  # a distributed worker (tfcompress.search.cluster): the chief has the result
            return None
        self._report = {k: v for k, v in result.to_dict().items()}
        self._report["trials_markdown"] = result.markdown()
        return result.best_model


__all__ = ["SearchStage", "FillBudget"]
