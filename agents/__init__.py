"""Reinforcement-learning searchers, one paper per file: `agents.haq` (HAQ), `agents.releq` (ReLeQ).

Each searcher is a dataclass of hyper-parameters with ``search(problem, *, seed)``; it drives an
`envs.MPQEnv` over the problem until the problem's evaluation budget is used.
"""
