import pytest

from nas.errors import ConfigError
from searchers.base import Searcher
from searchers.registry import SEARCHERS, make_searcher


def test_every_searcher_follows_the_protocol(zdt):
    for name in SEARCHERS:
        searcher = make_searcher(name, zdt, 2, seed=0)
        assert isinstance(searcher, Searcher)
        assert len(searcher.ask(3)) == 3


def test_unknown_searcher_or_option_is_a_clear_error(zdt):
    with pytest.raises(ConfigError, match="unknown searcher 'bayes'; allowed: random, evolution"):
        make_searcher("bayes", zdt, 2)
    with pytest.raises(ConfigError, match="unknown option.*populaton_size.*allowed:.*population_size"):
        make_searcher("evolution", zdt, 2, options={"populaton_size": 3})
