"""Probe: RSS and high-water mark of the demo's training config around its endpoint evaluation (see README.md)."""
import sys, time, ctypes
T0 = time.time()
def rss(): return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) // 1024
def hwm(): return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) // 1024
import nas.train.loop as loop
orig = loop.evaluate_endpoints
def wrapped(session, params, stats, progress=True):
    print("before eval", rss(), hwm(), "t", round(time.time() - T0, 1), flush=True)
    if "noeval" in sys.argv:
        import os; os._exit(0)
    if "trim" in sys.argv:
        ctypes.CDLL("libc.so.6").malloc_trim(0); print("after trim", rss(), flush=True)
    out = orig(session, params, stats, progress=progress)
    print("after eval", rss(), hwm(), flush=True)
    return out
loop.evaluate_endpoints = wrapped
from nas.train.config import TrainConfig
cfg = TrainConfig(space="mobilenetv3", space_options={"width_mult": 0.5}, steps=int(sys.argv[1]), batch_size=128, sampling="sandwich",
                  num_random=0, distillation="none", learning_rate=0.1, warmup_steps=50)
import shutil; shutil.rmtree("/tmp/demo_mem_run", ignore_errors=True)
t = time.time()
loop.train(cfg, "/tmp/demo_mem_run", progress=False)
print("total", time.time() - t, rss(), hwm())
