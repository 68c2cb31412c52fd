#!/bin/bash
# Issue 21 item 4b: where the DARTS search's compile goes. The same command as probe.sh's darts line, with
# JAX logging every compile (program name, seconds) and XLA dumping each program's optimized HLO; then,
# per program: compile seconds, fused kernels, ops (kernel bodies included) and XLA's memory estimate.
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/darts-compile}
rm -rf "$OUT"; mkdir -p "$OUT"
JAX_LOG_COMPILES=1 XLA_FLAGS="--xla_dump_to=$OUT/dump --xla_dump_hlo_as_text" WEFT_JAX_CACHE=$(mktemp -d) \
    /usr/bin/time -v -o "$OUT/time.txt" .venv/bin/nas search-differentiable --space mobilenetv3 \
    --option width_mult=0.5 --method darts --steps 2 --batch-size 32 --run "$OUT/run" --log-every 1 --quiet \
    > "$OUT/log.txt" 2>&1
python3 - "$OUT" <<'PY'
import glob, json, os, re, sys
out = sys.argv[1]
log = open(f"{out}/log.txt").read()
# jax: "Finished XLA compilation of jit(NAME) in X sec"
compiles = [(m.group(1), float(m.group(2))) for m in re.finditer(r"Finished XLA compilation of (\S+) in ([\d.]+) s", log)]
rows = []
for path in glob.glob(f"{out}/dump/*after_optimizations.txt"):
    text = open(path).read()
    rows.append({"module": os.path.basename(path).split(".")[1] if "." in os.path.basename(path) else path,
                 "file": os.path.basename(path), "fusions": len(re.findall(r"\bfusion\(", text)),
                 "instructions": sum(1 for line in text.splitlines() if " = " in line), "kb": len(text) // 1024})
rows.sort(key=lambda r: -r["instructions"])
time = open(f"{out}/time.txt").read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", time).group(1)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", time).group(1)) // 1024
print(json.dumps({"wall": wall, "peak_rss_mib": rss, "compiles_s": sorted(compiles, key=lambda c: -c[1])[:6],
                  "total_compile_s": round(sum(s for _, s in compiles), 1), "largest_programs": rows[:4]}))
PY
