"""Search: drive any searcher over a trained supernet or a black-box objective, record trials, Pareto fronts.

    from nas.search import BlackBoxEvaluator, SearchConfig, run_search
    result = run_search(BlackBoxEvaluator(space, objective), "runs/mysearch", SearchConfig(searcher="nsga2"))
"""
from nas.search.evaluators import BlackBoxEvaluator, SupernetEvaluator
from nas.search.loop import SearchConfig, SearchResult, run_search
from nas.search.objectives import Constraint, Objective

__all__ = ["BlackBoxEvaluator", "SupernetEvaluator", "SearchConfig", "SearchResult", "run_search",
           "Constraint", "Objective"]
