from nas.xla_flags import with_xla_flags


def test_settings_are_appended_unless_the_flags_already_name_them():
    assert with_xla_flags("", {"xla_a": "0", "xla_b": "false"}) == "--xla_a=0 --xla_b=false"
    # A setting already there (the user's own) is kept as it is; the others are added after it.
    assert with_xla_flags(" --xla_b=true ", {"xla_a": "0", "xla_b": "false"}) == "--xla_b=true --xla_a=0"
    # A flag whose name only starts with a setting's name does not count as that setting.
    assert with_xla_flags("--xla_ab=1", {"xla_a": "0"}) == "--xla_ab=1 --xla_a=0"
