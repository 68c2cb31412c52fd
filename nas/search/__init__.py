"""Search: drive any searcher over a trained supernet or a black-box objective, record trials, Pareto fronts.

A whole search from Python (the objective can be any function of an Arch):

```python
import numpy as np
from nas.space import AtLeast, IntRange, Sorted, Space
from nas.search import BlackBoxEvaluator, SearchConfig, run_search
from nas.search.plot import plot_search

space = Space("toy", [IntRange("depth", 1, 3), Sorted("width", max=256, steps=8),
                      Sorted("extra", max=64, steps=4, when=AtLeast("depth", 2))])

def objective(arch):  # a tabular benchmark, a stand-alone training, ...
    size = arch["depth"] * arch["width"] + arch.get("extra", 0)
    return {"accuracy": 1 - 1 / np.sqrt(size), "params": float(size)}

evaluator = BlackBoxEvaluator(space, objective, outputs=("accuracy", "params"))
config = SearchConfig(searcher="nsga2", trials=60, batch=10, objectives=("accuracy:max", "params:min"),
                      constraints=("params<=600",))
result = run_search(evaluator, "runs/toy-search", config)  # re-running resumes
for record in result.front():
    print(record.arch, record.metrics)
plot_search("runs/toy-search", result.records, config.objectives, result.reference)
```

On a trained run, `SupernetEvaluator("runs/NAME")` scores archs with the supernet's weights
(BN recalibrated) and adds `macs` (multiply-adds), `params` (and `latency` with a predictor file).
"""
from nas.search.evaluators import BlackBoxEvaluator, SupernetEvaluator
from nas.search.loop import SearchConfig, SearchResult, run_search
from nas.search.objectives import Constraint, Objective

__all__ = ["BlackBoxEvaluator", "SupernetEvaluator", "SearchConfig", "SearchResult", "run_search",
           "Constraint", "Objective"]
