"""The AutoFormer-like ViT space: masked, static and sliced lowerings agree; the export reloads and matches."""

import pytest

from nas.definition import get_definition
from nas.errors import ConfigError
from nas.lowering import count_params, slice_subnet, split

from tests.search_spaces import checks

SMALL = {"embed_dims": [8, 16], "depths": [1, 2], "heads": [1, 2], "mlp_ratios": [1, 2], "head_dim": 4,
         "patch_size": 7}


def build(options=None, image_shape=(28, 28, 1)):
    definition = get_definition("vit")
    return definition.build(definition.resolve_options(options or {}, image_shape))


def test_space_size_and_subnet_parameter_counts():
    space, supernet = build()
    # embed 3 x (depth 2: 9^2 + depth 3: 9^3 + depth 4: 9^4)
    assert space.size() == 3 * (9 ** 2 + 9 ** 3 + 9 ** 4)

    # Per block: 2 LayerNorms (4w), q/k/v (w x 16h + 16h each), out (16h x w + w), FFN (w x rw + rw, rw x w + w).
    def block(w, h, r):
        inner = 16 * h
        return 4 * w + 3 * (w * inner + inner) + inner * w + w + w * r * w + r * w + r * w * w + w

    def total(w, layers):
        return 16 * w + w + w + 50 * w + sum(block(w, h, r) for h, r in layers) + 2 * w + w * 10 + 10

    assert count_params(split(slice_subnet(supernet, space.largest()))[1]) == total(64, [(4, 4)] * 4)
    assert count_params(split(slice_subnet(supernet, space.smallest()))[1]) == total(32, [(2, 2)] * 2)
    assert count_params(split(supernet)[1]) == total(64, [(4, 4)] * 4)


def test_decision_names_order_and_fingerprint_are_those_runs_were_made_with():
    space, _ = build()
    assert [d.name for d in space.decisions] == ["embed_dim", "depth"] + [
        f"l{i}.{what}" for i in range(4) for what in ("heads", "mlp_ratio")]
    assert space["l2.heads"].when is not None and space["l1.mlp_ratio"].when is None
    # The fingerprint of the space before it was declared in the network (run directories record it).
    assert space.fingerprint() == "60c2a5a0fbd4c114"


def test_patch_size_must_divide_the_image():
    with pytest.raises(ConfigError, match="not a multiple of patch_size 5"):
        build({"patch_size": 5})


def test_lowerings_agree_on_smallest_largest_and_two_random_archs():
    space, graphdef, params, stats = checks.perturbed_supernet("vit", SMALL)
    checks.check_agreement(space, graphdef, params, stats, checks.archs_to_check(space, 2), checks.batch_of(8))


@pytest.mark.slow
def test_lowerings_agree_on_50_random_archs_plus_smallest_and_largest():
    space, graphdef, params, stats = checks.perturbed_supernet("vit", {})
    worst = checks.check_agreement(space, graphdef, params, stats, checks.archs_to_check(space, 50, seed=5),
                                   checks.batch_of(8))
    print(f"vit: worst |masked or static - sliced| / max(1, |logits|) over 52 archs: {worst:.3g}")


@pytest.mark.slow
def test_cli_trains_and_the_export_reloads_and_matches(tmp_path):
    arch = {"embed_dim": 8, "depth": 2, "l0.heads": 2, "l0.mlp_ratio": 1, "l1.heads": 1, "l1.mlp_ratio": 2}
    assert checks.train_export_reload("vit", SMALL, arch, tmp_path) <= 1e-4
