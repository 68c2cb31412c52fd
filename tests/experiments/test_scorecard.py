"""experiments/results/scorecard.py: the committed scorecard is what the committed results say, and a target
check follows the figures it reads."""
import copy
import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_scorecard():
    spec = importlib.util.spec_from_file_location("scorecard", REPO / "experiments/results/scorecard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_scorecard_is_up_to_date_with_the_results(capsys):
    load_scorecard().main()
    assert capsys.readouterr().out == (REPO / "experiments/results/scorecard.md").read_text(), (
        "re-make it: python experiments/results/scorecard.py > experiments/results/scorecard.md")


def test_a_variant_meets_the_targets_only_when_every_check_holds(tmp_path, monkeypatch):
    scorecard = load_scorecard()
    ranking = json.loads((REPO / "experiments/results/supernet-ranking-mlp/gt8000-results.json").read_text())
    best = max(ranking["variants"], key=lambda v: v["kendall_tau"])
    variants = {"passes": best}
    variants["below size in bands"] = copy.deepcopy(best)
    variants["below size in bands"]["over_size"]["band_tau"]["interval"] = [-0.1, 0.3]
    variants["regret at one budget"] = copy.deepcopy(best)
    variants["regret at one budget"]["regret"][2]["regret"] = 0.004  # 0.4 pp against a 0.3 pp target
    for name, variant in variants.items():
        variant["variant"] = name
    ranking["variants"] = list(variants.values())
    (tmp_path / "ranking.json").write_text(json.dumps(ranking))
    monkeypatch.setattr(scorecard, "RESULTS", tmp_path)
    lines = scorecard.space_section(dict(name="MLP", ranking="ranking.json", tau_target=0.6, regret_target=0.3,
                                         unit="pp", scale=100.0))
    verdicts = {line.split(" | ")[0].lstrip("| "): line.rstrip(" |").split(" | ")[-1] for line in lines
                if line.startswith("| ") and line.split(" | ")[0].lstrip("| ") in variants}
    assert verdicts == {"passes": "yes", "below size in bands": "**no** (misses above size in bands)",
                        "regret at one budget": "**no** (misses regret)"}
