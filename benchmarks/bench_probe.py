"""Capture throughput against a plain ``model(x)`` loop, and peak memory of a streamed sweep.

Run: ``.venv/bin/python benchmarks/bench_probe.py`` (CPU; about 7 minutes on 2 cores).

1. Throughput, for the embedded model and timm ``efficientnet_b0`` (random init, 224 px): the
   same pre-rendered batches go through three loops in one process, repeated after a warm-up
   of each:

   - ``plain``: ``module(x)`` on pre-normalised tensors, the module and inputs in the default
     (contiguous) memory format: what a feature-extraction loop usually does;
   - ``plain_cl``: the same, in the channels_last format that :func:`load_model` sets up;
   - ``plain_norm``: ``module((x - mean) / std)`` on the rendered image batches, channels_last:
     the plain loop a user writes, which must normalise its batches too;
   - ``capture``: :func:`factorprobe.probing.capture` on the rendered Dataset (normalisation,
     hooks, copies and the labelled result included; layer discovery, a traced batch-1 forward
     pass, is cached per model after the warm-up, as in any repeated capture, and its one-time
     cost is printed apart).

   ``capture / plain_cl - 1`` is the overhead of capture over the bare forward pass it runs,
   normalisation included; ``capture / plain_norm - 1`` its overhead over a plain loop that
   prepares the same image batches itself. Both are given:

   - *capture's own work*: the time capture spends outside ``module(x)`` (timed by hooks on the
     root module: normalisation, batching, copies, assembly), as a share of the time inside it,
     in the same runs; immune to the machine's noise, but blind to any slowdown of the forward
     pass itself (the recording hooks, a few small copies per batch, run inside it);
   - *against the plain loops*: from the best time of each loop, and from the per-repeat ratios
     (each repeat runs ``capture`` between ``plain_cl`` and ``plain_norm``, which of them goes
     first alternating; the geometric mean of the two orders' median ratios cancels a slowdown
     of whichever runs later), with the page faults of each run.

   On this VM a forward pass spends up to half its time in page faults for its activations,
   and how many it takes (75k to 330k per run of the embedded model, measured) depends on how
   glibc's heap happens to be laid out, which differs between otherwise identical loops. So the
   comparison runs twice: (a) with the default allocator, and (b) in a child process where
   glibc keeps freed memory for reuse (``MALLOC_MMAP_MAX_=0``, ``MALLOC_TRIM_THRESHOLD_``): no
   page faults, a forward pass 1.5-2.9x faster, little noise, and the same absolute overhead a
   larger share of it. ``plain / capture`` is the speed-up over the plain loop.

2. Peak resident memory (``VmHWM``, Linux) of a fresh process that streams a random design of N
   stimuli through the embedded model to a zarr store, for two N: flat peaks mean memory does
   not grow with the number of stimuli.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import math
import os
import resource
import statistics
import subprocess
import sys
import textwrap
import time

import torch

import factorprobe as fp

_SWEEP = textwrap.dedent(
    """
    import sys, tempfile, time
    import factorprobe as fp

    n = int(sys.argv[1])
    model = fp.probing.load_model("embedded")
    space = fp.stimuli.random_design(n, size=(16, 64), x=(40, 184), y=(40, 184), seed=0,
                                     shape=["disc", "square", "triangle", "cross"])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        acts = fp.probing.capture(model, space, batch_size=256, store=tmp + "/acts.zarr",
                                  progress=False, device="cpu")
        shape = acts.shape
    seconds = time.perf_counter() - start
    # VmHWM: this process's peak resident memory (ru_maxrss would include the forked parent's).
    with open("/proc/self/status") as f:
        peak_mib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    print(f"{n} {shape[1]} {seconds:.1f} {peak_mib:.0f}")
    """
)


def _stimuli(n: int, seed: int):
    space = fp.stimuli.random_design(
        n, size=(16, 64), x=(40, 184), y=(40, 184), seed=seed,
        shape=["disc", "square", "triangle", "cross"], rotation=(0, 360),
    )  # fmt: skip
    return fp.stimuli.render(space, canvas=224)


def _inputs(stim, model: fp.probing.ProbedModel, batch_size: int) -> list[torch.Tensor]:
    images = torch.from_numpy(stim.image.values).permute(0, 3, 1, 2)
    if model.in_chans == 3:
        images = images.expand(-1, 3, -1, -1)
    mean = torch.tensor(model.mean).reshape(1, -1, 1, 1)
    std = torch.tensor(model.std).reshape(1, -1, 1, 1)
    x = (images - mean) / std
    return [x[i : i + batch_size] for i in range(0, len(x), batch_size)]


def _image_batches(stim, batch_size: int) -> list:
    pixels = stim.image.values
    return [pixels[i : i + batch_size] for i in range(0, len(pixels), batch_size)]


def _loop(module: torch.nn.Module, batches: list[torch.Tensor]) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        for x in batches:
            module(x)
    return time.perf_counter() - start


def throughput(name: str, n: int, batch_size: int, repeats: int) -> dict[str, float]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = fp.probing.load_model(name)
    stim = _stimuli(n, seed=1)
    plain_module = copy.deepcopy(model.module).to(memory_format=torch.contiguous_format).eval()
    contiguous = [x.contiguous() for x in _inputs(stim, model, batch_size)]
    channels_last = [x.contiguous(memory_format=torch.channels_last) for x in contiguous]
    with torch.inference_mode():  # the outputs agree within float tolerance
        a, b = plain_module(contiguous[0]), model.module.eval()(channels_last[0])
        max_diff = float((a - b).abs().max() / a.abs().max())
    times: dict[str, list[float]] = {"plain": [], "plain_cl": [], "plain_norm": [], "capture": []}
    images = [torch.from_numpy(im) for im in _image_batches(stim, batch_size)]
    mean = torch.tensor(model.mean).reshape(1, -1, 1, 1)
    std = torch.tensor(model.std).reshape(1, -1, 1, 1)

    def normalising_loop() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for im in images:
                x = im.permute(0, 3, 1, 2).expand(-1, model.in_chans, -1, -1)
                model.module(((x - mean) / std).contiguous(memory_format=torch.channels_last))
        return time.perf_counter() - start

    inside = [0.0, 0.0]  # [time in module(x) this run, start of the current call]

    def started(*_) -> None:
        inside[1] = time.perf_counter()

    def finished(*_) -> None:
        inside[0] += time.perf_counter() - inside[1]

    outside: list[float] = []

    def run_capture() -> float:
        inside[0] = 0.0
        handles = [model.module.register_forward_pre_hook(started),
                   model.module.register_forward_hook(finished)]  # fmt: skip
        start = time.perf_counter()
        fp.probing.capture(model, stim, batch_size=batch_size, device="cpu", progress=False)
        seconds = time.perf_counter() - start
        for handle in handles:
            handle.remove()
        outside.append((seconds - inside[0]) / inside[0])
        return seconds

    loops = {
        "plain": lambda: _loop(plain_module, contiguous),
        "plain_cl": lambda: _loop(model.module, channels_last),
        "plain_norm": normalising_loop,
        "capture": run_capture,
    }
    for loop in loops.values():  # warm-up
        loop()
    outside.clear()
    faults: dict[str, list[int]] = {"plain_cl": [], "capture": []}
    # capture runs between plain_cl and plain_norm; which of them goes first alternates
    middle = [["plain_cl", "capture", "plain_norm"], ["plain_norm", "capture", "plain_cl"]]
    for r in range(repeats):
        for key in ["plain", *middle[r % 2]]:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            times[key].append(loops[key]())
            if key in faults:
                faults[key].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    best = {k: min(v) for k, v in times.items()}
    best |= {f"faults_{k}": statistics.median(v) for k, v in faults.items()}
    for base in ("plain_cl", "plain_norm"):
        ratios = [c / p for c, p in zip(times["capture"], times[base], strict=True)]
        # The later of two adjacent loops can run 10-20% slower on this VM whichever it is, so
        # the ratios split in two clusters by order; the geometric mean of the two orders'
        # medians cancels that factor (a plain median would pick one cluster).
        even, odd = statistics.median(ratios[::2]), statistics.median(ratios[1::2])
        best[f"paired_{base}"] = math.sqrt(even * odd)
        quartiles = statistics.quantiles(ratios, n=4)
        best[f"q1_{base}"], best[f"q3_{base}"] = quartiles[0], quartiles[2]
    best["outside"] = statistics.median(outside)
    best["max_rel_diff"] = max_diff
    layers_module = importlib.import_module("factorprobe.probing.layers")
    layers_module._RESOLVED.pop(model.module, None)
    start = time.perf_counter()
    layers_module.resolve_targets(model, None, "post")
    best["discovery"] = time.perf_counter() - start
    return best


def memory(n: int) -> tuple[int, int, float, float]:
    out = subprocess.run(
        [sys.executable, "-c", _SWEEP, str(n)], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), int(out[1]), float(out[2]), float(out[3])


# glibc keeps freed memory for reuse instead of unmapping it: no page faults per forward pass
RETAINED = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}


def report_throughput(repeats: int) -> None:
    models = [("embedded", 1024, 128, 3 * repeats), ("timm:efficientnet_b0", 192, 32, repeats)]
    for name, n, batch_size, k in models:
        t = throughput(name, n, batch_size, k)
        print(
            f"{name:22s} {n} stimuli, batch {batch_size}: plain {n / t['plain']:7.1f}/s, "
            f"plain channels_last {n / t['plain_cl']:7.1f}/s, normalising "
            f"{n / t['plain_norm']:7.1f}/s, capture {n / t['capture']:7.1f}/s"
        )
        print(
            f"{'':22s} capture's own work (time outside the forward pass): "
            f"{t['outside']:+.1%} of it (median of {k})"
        )
        print(
            f"{'':22s} capture against the plain channels_last loop (pre-normalised): "
            f"{t['capture'] / t['plain_cl'] - 1:+.1%} (best of {k}), "
            f"{t['paired_plain_cl'] - 1:+.1%} (paired, order-balanced; quartiles "
            f"{t['q1_plain_cl'] - 1:+.0%} to {t['q3_plain_cl'] - 1:+.0%})"
        )
        print(
            f"{'':22s} capture against the plain loop that normalises its batches: "
            f"{t['capture'] / t['plain_norm'] - 1:+.1%} (best of {k}), "
            f"{t['paired_plain_norm'] - 1:+.1%} (paired, order-balanced; quartiles "
            f"{t['q1_plain_norm'] - 1:+.0%} to {t['q3_plain_norm'] - 1:+.0%}); page faults "
            f"per run (median): plain channels_last {t['faults_plain_cl'] / 1e3:.0f}k, capture "
            f"{t['faults_capture'] / 1e3:.0f}k"
        )
        print(
            f"{'':22s} layer discovery (once per model): {t['discovery'] * 1e3:.0f} ms; "
            f"speed-up over the plain loop: {t['plain'] / t['capture']:.2f}x; "
            f"channels_last max rel. diff {t['max_rel_diff']:.1e}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=9,
        help="repeats for EfficientNet; the embedded model, 10x faster per run, gets 3x as many",
    )  # fmt: skip
    parser.add_argument("--sweep", type=int, nargs=2, default=[2000, 20000], metavar="N")
    parser.add_argument("--throughput-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.throughput_only:
        report_throughput(args.repeats)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; load avg "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")  # fmt: skip
    print("1a. default allocator", flush=True)
    report_throughput(args.repeats)
    print(f"1b. freed memory kept by glibc ({' '.join(f'{k}={v}' for k, v in RETAINED.items())})",
          flush=True)  # fmt: skip
    subprocess.run(
        [sys.executable, __file__, "--throughput-only", "--repeats", str(args.repeats)],
        env=os.environ | RETAINED,
        check=True,
    )
    print("2. streamed sweeps (default allocator)")
    peaks = []
    for n in args.sweep:
        n, units, seconds, peak = memory(n)
        peaks.append(peak)
        print(f"streamed sweep, embedded, {n} stimuli x {units} units to zarr: {seconds:.1f} s, "
              f"peak RSS {peak:.0f} MiB")  # fmt: skip
    print(f"peak memory ratio {args.sweep[1]} / {args.sweep[0]} stimuli: {peaks[1] / peaks[0]:.2f}")


if __name__ == "__main__":
    main()
