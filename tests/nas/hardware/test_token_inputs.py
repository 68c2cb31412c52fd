"""Hardware cost of a token-input space (the byte-level LM): `nas cost` counts it for windows of
the space's context, `nas latency collect` times int32 token windows (and the layer table) and
resumes, and a predictor fitted for other inputs is refused in one line."""
import json

import pytest
from click.testing import CliRunner

from nas.cli import main
from nas.definition import get_definition
from nas.errors import ConfigError
from nas.hardware.collect import ARCHS_FILE, LAYERS_FILE, META_FILE, CollectConfig, collect, read_jsonl
from nas.hardware.counters import load_counter
from nas.hardware.flops_proxy import FlopsProxy
from nas.hardware.predictor_io import PredictorError, load_predictor, save_predictor
from nas.lowering import count_params, slice_subnet, split

TINY_LM = {"embed_dims": [16, 24], "depths": [1, 2], "heads": [1, 2], "ffn_widths": [32, 64], "head_dim": 8,
           "context": 16}
LM_OPTIONS = sum((["--option", f"{k}={json.dumps(v)}"] for k, v in TINY_LM.items()), [])
# The same space without its context option: the window length then comes from --input-shape.
SHAPE_FREE_OPTIONS = sum((["--option", f"{k}={json.dumps(v)}"] for k, v in TINY_LM.items() if k != "context"), [])


def _cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def _error_line(output):
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in output, output
    return lines[0]


@pytest.mark.parametrize("arch_spec", ["largest", "smallest",
                                       '{"embed_dim": 24, "depth": 1, "l0.heads": 1, "l0.ffn_width": 64}'])
def test_cost_of_an_lm_arch_counts_the_sliced_models_params(arch_spec):
    code, output = _cli("cost", "--space", "transformer_lm", "--arch", arch_spec, *LM_OPTIONS)
    assert code == 0, output
    line = json.loads(output)
    definition = get_definition("transformer_lm")
    space, supernet = definition.build(definition.resolve_options(TINY_LM, input_shape=(16,)))
    arch = space.from_string(line["arch"])
    assert line["params"] == count_params(split(slice_subnet(supernet, arch))[1])
    assert line["inputs"] == "tokens" and line["input_shape"] == [16] and "image_shape" not in line
    assert line["flops_multiply_adds"] > 0


def test_the_window_length_defaults_to_the_context_and_can_be_given():
    default = json.loads(_cli("cost", "--space", "transformer_lm", "--arch", "smallest", *SHAPE_FREE_OPTIONS)[1])
    assert default["input_shape"] == [get_definition("transformer_lm").default_options["context"]]
    for flag in ("--input-shape", "--image-shape"):
        code, output = _cli("cost", "--space", "transformer_lm", "--arch", "smallest", flag, "16", *SHAPE_FREE_OPTIONS)
        assert code == 0 and json.loads(output)["input_shape"] == [16], output
    # A longer window costs more: attention grows with its square, every dense layer with its length.
    assert json.loads(output)["flops_multiply_adds"] < default["flops_multiply_adds"]


@pytest.mark.parametrize("args,message", [
    (["--space", "transformer_lm", "--image-shape", "28,28,1"], "reads token windows"),
    (["--space", "transformer_lm", "--input-shape", "32", *LM_OPTIONS], "--option context=16 disagree"),
    (["--space", "mlp", "--input-shape", "16"], "reads images"),
    (["--space", "transformer_lm", "--option", "context=0"], "context must be the window length"),
])
def test_an_input_of_the_wrong_kind_is_one_line(args, message):
    code, output = _cli("cost", "--arch", "largest", *args)
    assert code == 2 and message in _error_line(output)


def test_collect_refuses_image_shapes_for_a_token_space(tmp_path):
    config = CollectConfig(space="transformer_lm", n=1, input_shape=(28, 28, 1), options=TINY_LM)
    with pytest.raises(ConfigError, match="reads tokens, not input shape"):
        collect(config, tmp_path / "run", progress=False)


def test_lm_collection_times_token_windows_resumes_and_fit_needs_enough_archs(tmp_path):
    run = tmp_path / "latency-lm"
    args = ["latency", "collect", "--space", "transformer_lm", *LM_OPTIONS, "--n", "3", "--repeats", "3",
            "--group", "3", "--run", run, "--quiet"]
    code, output = _cli(*args)
    assert code == 0, output
    meta = json.loads((run / META_FILE).read_text())
    assert meta["inputs"] == "tokens" and meta["input_shape"] == [16]
    rows = read_jsonl(run / ARCHS_FILE)
    assert [r["role"] for r in rows].count("sample") == 3 and all(r["median_ms"] > 0 for r in rows)
    counter = load_counter("transformer_lm", TINY_LM)
    assert len(read_jsonl(run / LAYERS_FILE)) == len(counter.layers.distinct_configs())

    assert _cli(*args)[0] == 0  # resumed with nothing missing: nothing measured again
    assert len(read_jsonl(run / ARCHS_FILE)) == len(rows)
    code, output = _cli("latency", "fit", "--run", run)
    assert code == 2 and "has 3 measured archs; fitting or retesting needs at least 5" in _error_line(output)

    args[args.index("--n") + 1] = "5"  # a larger --n extends the same collection
    assert _cli(*args)[0] == 0
    from nas.hardware.report import fit

    report = fit(run, tmp_path / "fit", mlp_steps=50, targets=("anchored",), train_fraction=0.6)
    assert set(report["results"]["anchored"]) == {"lut", "mlp", "linear", "layer-cost", "flops"} and report["input_shape"] == [16]
    code, output = _cli("cost", "--space", "transformer_lm", "--arch", "largest", *SHAPE_FREE_OPTIONS,
                        "--predictor", tmp_path / "fit" / "lut.json")
    assert code == 0, output  # the window length comes from the predictor
    assert json.loads(output)["input_shape"] == [16] and json.loads(output)["latency_ms"]


def _saved_lm_predictor(path):
    counter = load_counter("transformer_lm", TINY_LM)
    options = get_definition("transformer_lm").resolve_options(TINY_LM, input_shape=(16,))
    return save_predictor(path, FlopsProxy(counter, 2.0, 0.1), space_spec="transformer_lm", options=options,
                          input_shape=(16,), batch=1, device={}, device_fingerprint="test")


def test_a_predictor_records_its_inputs_and_is_refused_for_other_ones(tmp_path):
    path = _saved_lm_predictor(tmp_path / "lm.json")
    document = json.loads(path.read_text())
    assert document["space"]["input_shape"] == [16] and document["space"]["inputs"] == "tokens"
    load_predictor(path, load_counter("transformer_lm", TINY_LM))  # the same inputs load
    longer = load_counter("transformer_lm", {**TINY_LM, "context": 32}, (32,))
    with pytest.raises(PredictorError, match="fitted for windows of 16 tokens, not windows of 32 tokens"):
        load_predictor(path, longer)
    code, output = _cli("cost", "--space", "transformer_lm", "--arch", "largest", *SHAPE_FREE_OPTIONS,
                        "--input-shape", "32", "--predictor", path)
    assert code == 2 and "not windows of 32 tokens" in _error_line(output)
    code, output = _cli("cost", "--space", "mlp", "--arch", "largest", "--predictor", path)
    assert code == 2 and "fitted for space 'transformer_lm'" in _error_line(output)
