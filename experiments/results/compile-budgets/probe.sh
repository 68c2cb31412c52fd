#!/bin/bash
# Issue 21 item 4: compile time and peak memory of the programs with budgets, each a fresh process on a cold
# JAX cache (so its wall is trace + cold compile + a few steps + what the command does after them):
#   every supernet kind on MobileNetV3 (the mixtures experiment's space and data: Fashion-MNIST 28x28,
#   default options), `nas train` of 3 steps: budget <= 3 min and <= 8 GB;
#   the DARTS mixed-op search step on MobileNetV3 width 0.5 (the differentiable-search experiment's
#   space), `nas search-differentiable --method darts` of 2 steps: budget <= 2 min.
# Prints one JSON line per program: wall seconds, the first step's seconds where the run logs it (trace +
# compile + one step, from its metrics), peak RSS (MiB).
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/compile-budgets}
mkdir -p "$OUT"

measure() {  # name, then the nas command's arguments
    local name=$1; shift
    rm -rf "$OUT/$name"
    WEFT_JAX_CACHE=$(mktemp -d) /usr/bin/time -v -o "$OUT/$name.time" .venv/bin/nas "$@" --run "$OUT/$name" \
        --log-every 1 --quiet > "$OUT/$name.log" 2>&1
    python3 - "$OUT" "$name" "$?" <<'PY'
import json, re, sys
out, name, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(f"{out}/{name}.time").read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1).split(":")
seconds = sum(float(part) * 60 ** i for i, part in enumerate(reversed(wall)))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
try:
    first = json.loads(open(f"{out}/{name}/metrics.jsonl").readline())
    first_step_s = round(1 / first["steps_per_second"], 1) if "steps_per_second" in first else None
except (OSError, ValueError):
    first_step_s = None
print(json.dumps({"program": name, "rc": rc, "wall_s": round(seconds, 1), "first_step_s": first_step_s,
                  "peak_rss_mib": round(rss)}), flush=True)
PY
}

for kind in ${KINDS:-single mos-layer mos-neuron few-shot routed}; do
    extra=(); [ "$kind" = few-shot ] && extra=(--split-decision s1.b0.expand --experts 2)  # as the mixtures experiment
    measure "train-$kind" train --space mobilenetv3 --supernet "$kind" "${extra[@]}" --steps 3 --batch-size 128 \
        --warmup-steps 1
done
[ -n "${SKIP_DARTS:-}" ] || measure darts search-differentiable --space mobilenetv3 --option width_mult=0.5 \
    --method darts --steps 2 --batch-size 32
