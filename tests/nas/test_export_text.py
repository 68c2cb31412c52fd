"""A language-model run works with every part after training: export (the standalone model and its StableHLO
read int32 token windows and compute the supernet's logits), eval-export (bits per character), supernet search
(next-byte accuracy and bits/char as metrics) and export of the search's winner."""
from __future__ import annotations

import json
import math

import jax.numpy as jnp
import numpy as np
import pytest
from click.testing import CliRunner

from nas.cli import main
from nas.evaluate import make_masked_logits
from nas.export import load_export, load_stablehlo
from nas.run_dir import RunDir
from nas.train.loop import restore_trained

from tests.nas import fortune_corpus as corpus

TINY_LM = ["--space", "transformer_lm", "--option", "embed_dims=[16,24]", "--option", "depths=[1,2]",
           "--option", "heads=[1,2]", "--option", "ffn_widths=[32,64]", "--option", "head_dim=8",
           "--option", "context=16", "--data", "fortunes", "--batch-size", "8", "--warmup-steps", "1",
           "--distillation", "none", "--quiet"]


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    """(run directory, environment pointing the loader at a tiny fortune corpus)."""
    root = tmp_path_factory.mktemp("text")
    corpus.write_corpus(root / "fortunes", count=80)
    env = {"WEFT_FORTUNES": str(root / "fortunes")}
    run = root / "run"
    code, output = run_cli("train", *TINY_LM, "--steps", "4", "--run", run, env=env)
    assert code == 0, output
    return run, env


def run_cli(*args, env=None):
    result = CliRunner().invoke(main, [str(a) for a in args], env=env)
    return result.exit_code, result.output


def test_exported_lm_reloads_and_computes_the_supernets_logits(lm_run, monkeypatch):
    run, env = lm_run
    code, output = run_cli("export", "--run", run, "--arch", "largest", "--arch", "smallest", env=env)
    assert code == 0, output
    assert "test bits/char" in output and "Traceback" not in output
    monkeypatch.setenv("WEFT_FORTUNES", env["WEFT_FORTUNES"])
    session, state = restore_trained(RunDir.open(run))
    tokens = session.dataset.test.inputs[:24]  # all 14 windows of the tiny test split
    masked_logits = make_masked_logits(session.graphdef, session.space)
    for name in ("largest", "smallest"):
        out = run / "exports" / name
        exported = load_export(out)
        assert exported.inputs == "tokens" and exported.info["input_shape"] == [16]
        arch = session.space.validate(exported.info["arch"])
        supernet = np.asarray(masked_logits(state.params, state.stats, tokens, arch.to_vector()))
        assert supernet.shape == (len(tokens), 16, 256)
        assert np.max(np.abs(np.asarray(exported.logits(tokens)) - supernet)) <= 1e-4
        # The StableHLO artifact takes int32 [B, T] token windows, any batch size.
        assert np.max(np.abs(np.asarray(load_stablehlo(out)(jnp.asarray(tokens))) - supernet)) <= 1e-4
        assert np.asarray(load_stablehlo(out)(jnp.asarray(tokens[:3]))).shape == (3, 16, 256)
        report = json.loads((out / "report.json").read_text())
        assert report["max_abs_diff_vs_supernet"] <= 1e-4
        summary = json.loads((run / "summary.json").read_text())[name]
        for split in ("validation", "test"):  # the standalone model scores what the supernet scored
            assert report[f"{split}_bits_per_char"] == pytest.approx(summary[f"{split}_bits_per_char"], rel=1e-5)
            assert report[f"{split}_accuracy"] == pytest.approx(summary[f"{split}_accuracy"], abs=1e-6)


def test_eval_export_reports_bits_per_char_of_the_flax_model_and_the_stablehlo(lm_run):
    run, env = lm_run
    out = run / "exports" / "largest"
    if not out.exists():
        assert run_cli("export", "--run", run, "--arch", "largest", env=env)[0] == 0
    report = json.loads((out / "report.json").read_text())
    for flags in ([], ["--stablehlo"]):
        code, output = run_cli("eval-export", *flags, out, env=env)
        assert code == 0, output
        scores = json.loads(output.strip().splitlines()[-1])
        assert math.isfinite(scores["test_bits_per_char"]) and 0 < scores["test_bits_per_char"] < 9
        assert scores["test_bits_per_char"] == pytest.approx(report["test_bits_per_char"], rel=1e-5)
        assert scores["test_accuracy"] == pytest.approx(report["test_accuracy"], abs=1e-6)


def test_search_on_an_lm_run_and_export_of_its_winner(lm_run):
    run, env = lm_run
    code, output = run_cli("search", "--run", run, "--study", "lm", "--searcher", "random", "--trials", "6",
                           "--batch", "3", "--objectives", "bits_per_char:min,params:min", "--quiet", env=env)
    assert code == 0, output
    summary = json.loads(output.strip().splitlines()[-1])
    assert summary["trials"] == 6
    assert summary["hypervolume"] > 0  # bits/char's reference: the uniform byte model's 8 bits
    best = summary["best"]
    assert {"accuracy", "bits_per_char", "macs", "params"} <= set(best)
    assert 0 <= best["accuracy"] <= 1 and math.isfinite(best["bits_per_char"])
    code, output = run_cli("plot", "--run", run, "--study", "lm", "--out", run / "plots-lm", env=env)
    assert code == 0 and (run / "plots-lm" / "bits_per_char_vs_params.png").exists(), output
    code, output = run_cli("export", "--run", run, "--study", "lm", "--top", "1", env=env)
    assert code == 0, output
    winner = [path for path in (run / "exports").glob("arch-*")
              if json.loads((path / "arch.json").read_text())["arch_string"] == best["arch"]]
    assert len(winner) == 1
    report = json.loads((winner[0] / "report.json").read_text())
    # Search scored the validation split with the supernet; the export scores it with the standalone model.
    assert report["validation_bits_per_char"] == pytest.approx(best["bits_per_char"], rel=1e-4)
    assert report["validation_accuracy"] == pytest.approx(best["accuracy"], abs=1e-5)


def test_accuracy_max_keeps_working_on_an_lm_run_switched_or_masked_and_what_does_not_fit_is_one_line(lm_run):
    run, env = lm_run
    code, output = run_cli("search", "--run", run, "--study", "acc", "--searcher", "random", "--trials", "3",
                           "--batch", "3", "--quiet", env=env)  # default objectives: accuracy:max,params:min
    assert code == 0, output
    # The default scorer runs the LM switched; the masked one scores the same archs the same.
    code, masked = run_cli("search", "--run", run, "--study", "masked", "--searcher", "random", "--trials", "3",
                           "--batch", "3", "--execution", "masked", "--quiet", env=env)
    assert code == 0, masked
    switched, masked = json.loads(output)["best"], json.loads(masked)["best"]
    assert switched["arch"] == masked["arch"]
    assert switched["bits_per_char"] == pytest.approx(masked["bits_per_char"], rel=1e-5)
    code, output = run_cli("search", "--run", run, "--study", "bad", "--searcher", "random", "--trials", "3",
                           "--objectives", "perplexity:min", "--quiet", env=env)
    assert code == 2 and "Traceback" not in output, output
    assert "unknown metric 'perplexity'" in output and "bits_per_char" in output


def test_a_latency_predictor_fitted_on_an_image_space_is_refused_in_one_line(lm_run, tmp_path):
    from nas.definition import get_definition

    run, env = lm_run
    mlp = get_definition("mlp").make_space(**get_definition("mlp").default_options)
    predictor = tmp_path / "mlp-latency.json"
    predictor.write_text(json.dumps({
        "format": "weft-latency-predictor", "format_version": 1, "kind": "flops",
        "space": {"name": mlp.name, "version": mlp.version, "fingerprint": mlp.fingerprint(), "spec": "mlp",
                  "options": {}, "image_shape": [28, 28, 1]},
        "batch": 1, "device": {}, "device_fingerprint": "cpu", "metrics": {}, "payload": {}}))
    code, output = run_cli("search", "--run", run, "--study", "latency", "--searcher", "random", "--trials", "3",
                           "--latency-predictor", predictor, "--quiet", env=env)
    assert code == 2 and "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "fitted for space 'mlp'" in lines[0] and "not space 'transformer_lm'" in lines[0]


def test_a_latency_predictor_of_the_lm_scores_its_search_only_for_the_runs_window_length(lm_run, tmp_path):
    from nas.definition import get_definition
    from nas.hardware.counters import load_counter
    from nas.hardware.flops_proxy import FlopsProxy
    from nas.hardware.predictor_io import save_predictor

    run, env = lm_run
    options = {"embed_dims": [16, 24], "depths": [1, 2], "heads": [1, 2], "ffn_widths": [32, 64], "head_dim": 8}
    for context in (16, 32):  # the run's windows are 16 tokens long
        resolved = get_definition("transformer_lm").resolve_options(options, input_shape=(context,))
        save_predictor(tmp_path / f"lm-{context}.json", FlopsProxy(load_counter("transformer_lm", options, (context,)),
                                                                    ms_per_mmac=2.0, offset_ms=0.1),
                       space_spec="transformer_lm", options=resolved, input_shape=(context,), batch=1, device={},
                       device_fingerprint="test")
    code, output = run_cli("search", "--run", run, "--study", "latency-lm", "--searcher", "random", "--trials", "3",
                           "--batch", "3", "--objectives", "bits_per_char:min,latency:min",
                           "--latency-predictor", tmp_path / "lm-16.json", "--quiet", env=env)
    assert code == 0, output
    assert json.loads(output.strip().splitlines()[-1])["best"]["latency"] > 0.1
    code, output = run_cli("search", "--run", run, "--study", "latency-32", "--searcher", "random", "--trials", "3",
                           "--latency-predictor", tmp_path / "lm-32.json", "--quiet", env=env)
    assert code == 2 and "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "fitted for windows of 32 tokens, not windows of 16 tokens" in lines[0]
