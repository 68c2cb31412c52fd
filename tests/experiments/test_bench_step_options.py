"""The step benchmark's per-space options: parsed per space, refused with one clear line when malformed."""
import argparse

import pytest

from experiments.bench.step import parse_space_options, space_options


def test_options_are_grouped_by_space_and_json_decoded():
    assert parse_space_options(["nb201.cells_per_stage=1", "nb201.channels=8", "vit.embed_dims=[32,64]",
                                "transformer_lm.norm=rms"]) == {
        "nb201": {"cells_per_stage": 1, "channels": 8}, "vit": {"embed_dims": [32, 64]},
        "transformer_lm": {"norm": "rms"}}


def test_a_space_gets_only_its_own_options_and_mobilenetv3_keeps_its_width():
    args = argparse.Namespace(space="mobilenetv3", width_mult=0.5, option=["nb201.channels=8", "mobilenetv3.width_mult=0.75"])
    assert space_options(args) == {"width_mult": 0.75}
    args.space = "nb201"
    assert space_options(args) == {"channels": 8}


@pytest.mark.parametrize("pair, says", [("cells_per_stage=1", "SPACE.KEY=VALUE"), ("nb201.channels", "SPACE.KEY=VALUE"),
                                        ("=8", "SPACE.KEY=VALUE")])
def test_a_malformed_option_is_one_clear_error(pair, says):
    with pytest.raises(SystemExit, match=says):
        parse_space_options([pair])


def test_benches_without_an_option_flag_build_their_space():
    # bench/train.py and bench/evaluate.py share build() but define no --option (make bench stopped on it).
    args = argparse.Namespace(space="mobilenetv3", width_mult=0.5, resolution=32, channels=3)
    assert space_options(args) == {"width_mult": 0.5}


def test_every_shipped_space_gets_an_input_or_a_reason_it_is_skipped(capsys, tmp_path, monkeypatch):
    """`--space all` stopped twice on a space added later (a graph space, an adapter space)."""
    from experiments.bench import step

    args = argparse.Namespace(space="gnn", width_mult=1.0, option=[], resolution=32, channels=3, context=64)
    assert step.input_shape(args) == (1, 1, 1)  # node indices: the input the graph space declares
    args.space = "mobilenetv3"
    assert step.input_shape(args) == (32, 32, 3)
    # The adapter space pretrains its own base on the fortunes; without them it is skipped, saying why.
    monkeypatch.setenv("WEFT_FORTUNES", str(tmp_path))
    step.main(["--space", "lora", "--skip-compile-probe"])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert '"skipped": "fortune corpus' in line and str(tmp_path) in line
