"""The MobileNetV3 space mirrors Once-for-All's exactly (../shared/peers/ofa/README.md)."""
from nas.definition import get_definition
from nas.lowering import count_params, slice_subnet, split


def build(**options):
    definition = get_definition("mobilenetv3")
    return definition.build(definition.resolve_options(options, (32, 32, 3)))


def test_parameter_counts_equal_the_reference_implementation():
    space, supernet = build(kernel_transform=True)
    assert space.size() == (9 ** 2 + 9 ** 3 + 9 ** 4) ** 5
    assert count_params(split(supernet)[1]) == 6_410_690  # OFAMobileNetV3, 10 classes, with 7to5/5to3 matrices
    assert count_params(split(slice_subnet(supernet, space.largest()))[1]) == 6_396_570
    assert count_params(split(slice_subnet(supernet, space.smallest()))[1]) == 2_142_602


def test_stage_widths_and_expanded_channels_follow_make_divisible():
    _, supernet = build()
    stage_two_first = supernet.stages[1].blocks[0]
    assert dict(stage_two_first.mid_size.table) == {3: 72, 4: 96, 6: 144}
    assert dict(stage_two_first.se_size.table) == {3: 24, 4: 24, 6: 40}
    assert [stage.blocks[0].out_channels for stage in supernet.stages] == [24, 40, 80, 112, 160]
