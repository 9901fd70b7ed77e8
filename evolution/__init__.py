"""Evolutionary searchers on DEAP: a constraint-aware GA (`ga.py`) and NSGA-II (`nsga2.py`).

Neither uses DEAP's global ``creator`` nor the global ``random`` state: fitness classes subclass
``deap.base.Fitness`` here, and the variation operators (`operators.py`) draw from the
searcher's seeded ``numpy.random.Generator``.
"""
