"""AutoML student search: KerasTuner oracles pick the structure, distillation teaches each candidate.

Public names: ``search_student``, ``SearchResult``, ``Budget``, ``SearchStage``, ``CNNSpace``,
``MLPSpace``, ``make_space``, ``pareto_front``, ``plot_pareto``, ``StudentTuner``.
"""

from tfcompress.search.budget import Budget
from tfcompress.search.pareto import pareto_front, plot_pareto, trials_markdown
from tfcompress.search.search import SearchResult, check_reachable, search_student
from tfcompress.search.spaces import CNNSpace, MLPSpace, make_space
from tfcompress.search.stages import SearchStage
from tfcompress.search.tuner import StudentTuner, make_oracle, mnas_reward

__all__ = ["Budget", "SearchResult", "SearchStage", "CNNSpace", "MLPSpace", "StudentTuner", "check_reachable",
           "make_oracle", "make_space", "mnas_reward", "pareto_front", "plot_pareto", "search_student",
           "trials_markdown"]
