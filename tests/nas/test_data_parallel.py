"""Data-parallel training over 4 (forced host) devices matches one device to 1e-5."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    from nas.run_dir import RunDir
    from nas.train.config import TrainConfig
    from nas.train.loop import restore_trained, train

    assert jax.device_count() == 4, jax.devices()
    space, options = sys.argv[1], json.loads(sys.argv[2])
    leaves = {}
    for devices in (1, 4):
        config = TrainConfig(space=space, space_options=options, steps=6, batch_size=32, data="synthetic",
                             limit_train=256, warmup_steps=1, calibration_images=64, eval_batch_size=64,
                             num_random=1, devices=devices, checkpoint_every=100)
        run = f"{sys.argv[3]}/run{devices}"
        train(config, run, progress=False)
        leaves[devices] = jax.tree.leaves(restore_trained(RunDir.open(run))[1])
    worst = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(leaves[1], leaves[4]))
    print(json.dumps({"max_abs_diff": worst}))
""")


def run_in_four_devices(tmp_path, space, options):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", SCRIPT, space, json.dumps(options), str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])["max_abs_diff"]


def test_mlp_on_four_devices_matches_one_device(tmp_path):
    assert run_in_four_devices(tmp_path, "mlp", {"max_width": 32, "width_steps": 4}) <= 1e-5


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known bug (issue 4 note): MobileNetV3 params differ by ~0.83 after 6 "
                   "steps on 4 devices; one forward/gradient matches, so the divergence is in the step")
def test_mobilenetv3_with_batch_norm_on_four_devices_matches_one_device(tmp_path):
    assert run_in_four_devices(tmp_path, "mobilenetv3", {"width_mult": 0.25}) <= 1e-5
