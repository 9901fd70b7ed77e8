"""Baseline searchers: random, uniform, greedy sensitivity, HAWQ-style ILP, Optuna TPE."""
