"""The `nas train` options are written from TrainConfig's fields: same names, defaults and checks."""
import dataclasses
from dataclasses import dataclass

import click
import pytest
from click.testing import CliRunner

from nas.cli import main, train
from nas.config import from_dict, setting
from nas.config_cli import cli_fields, click_options, config_from_options
from nas.errors import ConfigError
from nas.train.config import SUPERNETS, TrainConfig, saved_settings


def test_every_train_config_field_but_the_space_options_is_an_option_with_the_fields_default():
    options = {parameter.name: parameter for parameter in train.params}
    for field in dataclasses.fields(TrainConfig):
        if field.name == "space_options":
            assert field.name not in options  # given as --option key=value
            continue
        option = options[field.name]
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        expected = ",".join(default) if field.name in ("sorted_decisions", "collections") else default
        expected = ";".join(default) if field.name == "sorted_axes" else expected
        assert option.default == expected, field.name


def test_options_read_back_into_the_same_config_as_python_builds():
    parsed = {}

    @click.command()
    @click_options(TrainConfig)
    def command(**fields):
        parsed.update(fields)

    result = CliRunner().invoke(command, ["--sampling", "sorted", "--sorted-axes", "depth;embed_dim,*ffn", "--lr",
                                          "0.1", "--no-smallest", "--devices", "0", "--collections", ""],
                                standalone_mode=False)
    assert result.exception is None, result.output
    with pytest.raises(ConfigError, match="sandwich_smallest false drops"):  # --no-smallest needs a sandwich
        config_from_options(TrainConfig, parsed, "test")
    config = config_from_options(TrainConfig, {**parsed, "sandwich_smallest": True}, "test")
    assert config == TrainConfig(sampling="sorted", sorted_axes=("depth", "embed_dim,*ffn"), learning_rate=0.1,
                                 devices=None)


@pytest.mark.parametrize("arguments, message", [
    (["--sampling", "greedy"], "sampling must be one of uniform, sandwich"),
    (["--supernet", "moe"], "supernet must be one of single, mos-layer, mos-neuron, few-shot, routed, got 'moe'"),
    (["--steps", "0"], "steps must be > 0, got 0"),
    (["--momentum", "-0.5"], "momentum must be >= 0, got -0.5"),
    (["--router-hidden", "0"], "router_hidden must be >= 1, got 0"),
])
def test_a_bad_value_gets_the_configs_own_one_line_error(arguments, message):
    result = CliRunner().invoke(main, ["train", "--run", "unused", *arguments])
    assert result.exit_code == 2 and message in result.output, result.output
    with pytest.raises(ConfigError, match=message.split(",")[0]):  # the same check built in Python
        field, value = arguments[0].removeprefix("--").replace("-", "_"), arguments[1]
        hints = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
        from_dict(TrainConfig, {field: int(value) if hints[field] == "int" else
                                float(value) if hints[field] == "float" else value}, "train config")


def test_mixture_is_the_former_name_of_routed_in_python_saved_configs_and_the_cli():
    assert "routed" in SUPERNETS and "mixture" not in SUPERNETS
    assert TrainConfig(supernet="mixture", experts=2).supernet == "routed"
    assert saved_settings({"supernet": "mixture", "seed": 1})["supernet"] == "routed"


def test_a_hidden_setting_is_no_option_and_a_choice_is_shown_as_its_values():
    @dataclass(frozen=True)
    class Config:
        kind: str = setting("a", "which", choices=("a", "b"))
        internal: int = setting(3, "not for users", hidden=True)

    assert [f.name for f in cli_fields(Config)] == ["kind"]

    @click.command()
    @click_options(Config)
    def command(**fields):
        pass

    help_text = CliRunner().invoke(command, ["--help"]).output
    assert "--kind [a|b]" in help_text and "--internal" not in help_text


@dataclass(frozen=True)
class Budgets:
    name: str = setting("run", "a name")
    constraints: tuple = setting((), "budget, repeatable", multiple=True, cli=("--constraint",))
    options: dict = setting({}, "hidden, given by the command", hidden=True)


def test_a_multiple_setting_is_a_repeatable_option_and_extra_fields_may_share_a_parameter_name():
    @click.command()
    @click_options(Budgets)
    def command(**values):
        click.echo(repr(config_from_options(Budgets, values, "test", options={"a": 1})))

    result = CliRunner().invoke(command, ["--constraint", "params<=5", "--constraint", "latency<=2ms"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == repr(Budgets("run", ("params<=5", "latency<=2ms"), {"a": 1}))
    assert CliRunner().invoke(command, []).output.strip() == repr(Budgets("run", (), {"a": 1}))


def test_every_search_config_setting_is_a_search_option():
    from nas.search.cli import search
    from nas.search.loop import SearchConfig

    options = {parameter.name: parameter for parameter in search.params}
    for field in cli_fields(SearchConfig):
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        assert options[field.name].default == default, field.name
    # Searcher options and the hypervolume reference come as KEY=VALUE pairs, parsed by the command.
    assert {f.name for f in dataclasses.fields(SearchConfig)} - {f.name for f in cli_fields(SearchConfig)} == \
        {"options", "reference"}
