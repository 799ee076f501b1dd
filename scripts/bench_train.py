"""Training-step speed of `MosaicVAE`: the real path (TensorLoader batches) against a floor of pre-built batches.

For each data set and variant a subprocess (so that its peak RSS is its own) builds the default model
(`MosaicVAE.from_registry(registry, n_latent, hidden)`) and an AdamW optimiser (lr 1e-3, weight decay 1e-4, as the
Trainer), then alternates, `--repeats` times, two timed runs of `--steps` optimiser steps, each after `--warmup`
untimed steps:

- loader: batches drawn from a `TensorLoader` (shuffled, epoch after epoch), then `model.elbo` + backward + step;
- floor: the same model and optimiser on a few `ModalityBatch`es built once by the same loader settings before
  timing and cycled over: forward + backward + step only.

Both use full batches (`drop_last=True`), so every step sees `--batch-size` cells. The table gives medians over the
repeats: steps/s of both paths, their ratio (loader / floor: 1.0 means the loader costs nothing), the loader alone
(ms per batch, batches built and dropped), peak RSS of the whole subprocess (data, model, optimiser state), and the
1-minute load average when the row finished. Variants: `dense` (fp32, every modality delivered dense), `sparse`
(modalities of kind 'atac' delivered as sparse CSR batches; skipped when there are none), `threads1`
(`torch.set_num_threads(1)`), `bf16` (`torch.autocast('cpu', dtype=torch.bfloat16)` around `model.elbo`), `fused`
(`torch.optim.AdamW(..., fused=True)`, the fused CPU kernel, instead of the default per-parameter loop on CPU). Column
`fwd/bwd/opt ms` splits the floor's step into `model.elbo`, backward and `opt.step` (medians). The column
`pred` is the ratio the loader's own cost predicts, floor time / (floor time + loader time): on a busy machine it is
steadier than the measured ratio, whose two halves see different load.

    .venv/bin/python scripts/bench_train.py
    .venv/bin/python scripts/bench_train.py --threads 1 --variants dense,sparse,bf16,fused   # steadier on a busy machine
    .venv/bin/python scripts/bench_train.py --datasets snareseq2_mouse_mop --variants dense,bf16 --steps 40
"""
from __future__ import annotations
import argparse, contextlib, itertools, json, os, platform, resource, statistics, subprocess, sys, time

DATASETS = ('teaseq_pbmc_rna_adt', 'snareseq2_mouse_mop')
VARIANTS = {'dense': 'fp32, dense batches', 'sparse': "fp32, 'atac'-kind sparse", 'threads1': 'fp32, dense, 1 thread',
            'bf16': 'bf16 autocast, dense', 'fused': 'fp32, dense, fused AdamW'}

def _peak_mb() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def _rss_mb() -> float:
    "Current resident set size in MB (Linux /proc)."
    try: return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20
    except OSError: return float('nan')
def _load() -> str: return '/'.join(f'{x:.2f}' for x in os.getloadavg())

# ------------------------------------------------------------------------------------------------------- worker
def _worker(dataset:str, variant:str, a) -> dict:
    import torch
    if variant == 'threads1': torch.set_num_threads(1)
    elif a.threads: torch.set_num_threads(a.threads)
    from remadom.core import seed_everything
    from remadom.data import load_example, register
    from remadom.data.loader import TensorLoader
    from remadom.model import MosaicVAE
    t0 = time.perf_counter()
    reg = register(load_example(dataset), batch_key='batch')
    t_data, rss_data = time.perf_counter() - t0, _rss_mb()
    sparse = tuple(k for k, s in reg.specs.items() if s.kind == 'atac') if variant == 'sparse' else ()
    if variant == 'sparse' and not sparse: return dict(dataset=dataset, variant=variant, skipped="no modality of kind 'atac'")
    seed_everything(0)
    model = MosaicVAE.from_registry(reg, n_latent=a.n_latent, hidden=tuple(a.hidden))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4, **(dict(fused=True) if variant == 'fused' else {}))
    amp = (lambda: torch.autocast('cpu', dtype=torch.bfloat16)) if variant == 'bf16' else contextlib.nullcontext
    kw = dict(batch_size=a.batch_size, shuffle=True, drop_last=True, sparse=sparse)
    loader = TensorLoader(reg, seed=0, **kw)
    if len(loader) == 0: raise SystemExit(f"{dataset}: fewer than {a.batch_size} cells; lower --batch-size")
    pre = list(itertools.islice(iter(TensorLoader(reg, seed=1, **kw)), a.prebuilt))    # built once, outside timing
    rss_model = _rss_mb()

    def stream():
        while True: yield from loader                                                   # epoch after epoch
    real, floor = stream(), itertools.cycle(pre)
    losses, phases = [], []                                                             # phases: floor (fwd, bwd, opt) s
    def step(batch, ph=None):
        t0 = time.perf_counter()
        with amp(): out = model.elbo(batch, kl_weight=1.)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        t2 = time.perf_counter()
        opt.step()
        if ph is not None: ph.append((t1 - t0, t2 - t1, time.perf_counter() - t2))  # CPU ops are synchronous
        return out.loss
    def timed(src, n):
        ph = phases if src is floor else None
        t = time.perf_counter()
        for _ in range(n): loss = step(next(src), ph)
        losses.append(float(loss))                                                      # one sync, outside the sum
        return time.perf_counter() - t
    if a.warmup:
        for src in (real, floor): timed(src, a.warmup)                                  # warm-up (allocator, oneDNN)
    phases.clear(); losses.clear()
    t_real, t_floor = [], []
    for r in range(a.repeats):                                                          # alternate the order
        for which in ((real, floor) if r % 2 == 0 else (floor, real)):
            (t_real if which is real else t_floor).append(timed(which, a.steps))
    t_load = []                                                                         # the loader alone
    for _ in range(a.repeats):
        t = time.perf_counter()
        for _ in range(a.steps): next(real)
        t_load.append(time.perf_counter() - t)
    med = statistics.median
    return dict(dataset=dataset, variant=variant, threads=torch.get_num_threads(), n_obs=reg.n_obs,
                features={k: s.n_features for k, s in reg.specs.items()}, sparse=list(sparse),
                n_params=sum(p.numel() for p in model.parameters()), batches_per_epoch=len(loader),
                real_sps=a.steps / med(t_real), floor_sps=a.steps / med(t_floor),
                real_all=[a.steps / t for t in t_real], floor_all=[a.steps / t for t in t_floor],
                loader_ms=1e3 * med(t_load) / a.steps, phase_ms=[1e3 * med(p[i] for p in phases) for i in range(3)],
                data_s=t_data, rss_data_mb=rss_data, rss_model_mb=rss_model,
                peak_rss_mb=_peak_mb(), loss_first=losses[0], loss_last=losses[-1],
                finite=all(l == l and abs(l) != float('inf') for l in losses), load=_load())

# ------------------------------------------------------------------------------------------------------- parent
def _run(dataset, variant, a) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), '--worker', f'{dataset}:{variant}', '--steps', str(a.steps),
           '--warmup', str(a.warmup), '--repeats', str(a.repeats), '--threads', str(a.threads), '--batch-size',
           str(a.batch_size), '--n-latent', str(a.n_latent), '--hidden', *map(str, a.hidden), '--prebuilt', str(a.prebuilt)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode: raise RuntimeError(f"{dataset}/{variant} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])

def _facts(a):
    import torch
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor()) \
        if os.path.exists('/proc/cpuinfo') else platform.processor()
    flags = next((l.split(':', 1)[1].split() for l in open('/proc/cpuinfo') if l.startswith('flags')), []) if os.path.exists('/proc/cpuinfo') else []
    isa = ','.join(f for f in ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16') if f in flags) or '?'
    aff = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    print(f"torch {torch.__version__} | python {platform.python_version()} | {cpu} ({isa}) | os.cpu_count() {os.cpu_count()}, "
          f"usable {aff} | torch threads {a.threads or torch.get_num_threads()} (default {torch.get_num_threads()}) | "
          f"oneDNN {torch.backends.mkldnn.is_available()} | load avg (1/5/15 min) {_load()}")
    print(f"model: MosaicVAE.from_registry defaults, n_latent {a.n_latent}, hidden {tuple(a.hidden)}; AdamW lr 1e-3; "
          f"batch size {a.batch_size} (full batches); {a.steps} timed steps x {a.repeats} repeats after {a.warmup} warm-up; "
          f"floor cycles {a.prebuilt} pre-built batches")

def _table(rows):
    hdr = (f"{'data set':22s} {'variant':26s} {'thr':>3s} {'loader st/s':>11s} {'floor st/s':>10s} {'ratio':>6s} "
           f"{'pred':>5s} {'ms/step':>8s} {'fwd/bwd/opt ms':>15s} {'loader ms/b':>11s} {'cells/s':>8s} {'peak RSS MB':>11s} {'loss':>14s} {'load 1/5/15':>15s}")
    print('\n' + hdr + '\n' + '-' * len(hdr))
    for r in rows:
        if 'skipped' in r: print(f"{r['dataset'][:22]:22s} {VARIANTS[r['variant']]:26s} skipped: {r['skipped']}"); continue
        loss = f"{r['loss_first']:.0f}->{r['loss_last']:.0f}" if r['finite'] else 'NOT FINITE'
        print(f"{r['dataset'][:22]:22s} {VARIANTS[r['variant']]:26s} {r['threads']:3d} {r['real_sps']:11.2f} {r['floor_sps']:10.2f} "
              f"{r['real_sps'] / r['floor_sps']:6.2f} {1e3 / r['floor_sps'] / (1e3 / r['floor_sps'] + r['loader_ms']):5.2f} {1e3 / r['real_sps']:8.1f} {'/'.join(f'{x:.0f}' for x in r['phase_ms']):>15s} {r['loader_ms']:11.1f} "
              f"{r['real_sps'] * r['bs']:8.0f} {r['peak_rss_mb']:11.0f} {loss:>14s} {r['load']:>15s}")
    print("\nratio = loader steps/s / floor steps/s (1.00: loading costs nothing); pred = floor ms / (floor ms + loader ms/b); "
          "ms/step = loader path; fwd/bwd/opt = medians of the floor's elbo, backward, AdamW step; loader ms/b = building one batch alone; "
          "cells/s = loader path; loss = first -> last timed run (training progresses, so it falls).")
    for r in rows:
        if 'skipped' in r: continue
        print(f"  {r['dataset']}/{r['variant']}: features {r['features']}, {r['n_obs']} cells, {r['batches_per_epoch']} batches/epoch, "
              f"{r['n_params'] / 1e6:.2f} M params, RSS data {r['rss_data_mb']:.0f} MB, +model/loader {r['rss_model_mb'] - r['rss_data_mb']:.0f} MB; "
              f"repeats loader {[round(x, 2) for x in r['real_all']]}, floor {[round(x, 2) for x in r['floor_all']]}")

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--datasets', default=','.join(DATASETS), help='comma-separated example names (remadom.data.EXAMPLES)')
    ap.add_argument('--variants', default=','.join(VARIANTS), help='comma-separated subset of ' + ','.join(VARIANTS))
    ap.add_argument('--steps', type=int, default=10, help='timed optimiser steps per run')
    ap.add_argument('--warmup', type=int, default=2, help='untimed steps before timing, on each path')
    ap.add_argument('--repeats', type=int, default=3, help='timed runs per path (the median is reported)')
    ap.add_argument('--threads', type=int, default=0, help='torch intra-op threads of the non-threads1 rows (0: torch default); '
                    '1 gives steady figures on a busy machine, where waiting OpenMP threads make 2-thread timings erratic')
    ap.add_argument('--batch-size', type=int, default=256)
    ap.add_argument('--n-latent', type=int, default=20)
    ap.add_argument('--hidden', type=int, nargs='+', default=[256])
    ap.add_argument('--prebuilt', type=int, default=4, help='batches built once for the floor')
    ap.add_argument('--worker', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if min(a.steps, a.repeats, a.batch_size, a.prebuilt) < 1 or a.warmup < 0: ap.error('--steps, --repeats, --batch-size, --prebuilt must be >= 1')
    if a.worker:
        ds, var = a.worker.split(':')
        print(json.dumps({**_worker(ds, var, a), 'bs': a.batch_size})); return
    vs = [v for v in a.variants.split(',') if v]
    bad = [v for v in vs if v not in VARIANTS]
    if bad: ap.error(f"unknown variants {bad}; choose from {list(VARIANTS)}")
    _facts(a)
    rows = []
    for ds in [d for d in a.datasets.split(',') if d]:
        for v in vs:
            rows.append(_run(ds, v, a))
            r = rows[-1]
            print(f"  done {ds}/{v}" + ('' if 'skipped' in r else f": loader {r['real_sps']:.2f} st/s, floor {r['floor_sps']:.2f} st/s, load {r['load']}"), flush=True)
    _table(rows)
    print(f"\nload avg at the end (1/5/15 min): {_load()}")

if __name__ == '__main__': main()
