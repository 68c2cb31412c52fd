"""Small spaces and counters shared by the hardware tests."""
import numpy as np
import pytest

from nas.hardware.counters import load_counter

SMALL_MLP = {"max_layers": 3, "width_steps": 4, "max_width": 64, "in_features": 12}


@pytest.fixture(scope="session")
def mlp_counter():
    return load_counter("mlp", SMALL_MLP, (2, 2, 3))


@pytest.fixture(scope="session")
def mbv3_counter():
    return load_counter("mobilenetv3")


def sample_vectors(space, n, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([space.smallest().to_vector(), space.largest().to_vector()]
                    + [space.sample(rng).to_vector() for _ in range(n - 2)])


@pytest.fixture(scope="session")
def vectors_of():
    return sample_vectors


@pytest.fixture(scope="session")
def small_mlp():
    return dict(SMALL_MLP)
