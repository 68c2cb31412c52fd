"""Search strategies behind one protocol (`searchers.base.Searcher`: ask, tell, state, restore).

One algorithm per file: `random_search`, `regularized_evolution` (composing `tournament`
and `constrained_ranking` with `Space.mutate`/`crossover`), `optuna_search` (NSGA-II, TPE),
`rl_controller` (TuNAS REINFORCE); `registry.make_searcher` builds one by name.
"""
