"""Out-of-core training: peak RSS and time of `data.backed: true` training on simulated RNA + ADT + ATAC sets.

For each size N it simulates a paired set once (`remadom.data.mock.simulate`, written to `--dir/sim_N.h5mu`), then, in
a fresh process each, (1) registers the file backed and trains `--epochs` epochs through `remadom.api.Remadom`
(BackedLoader: chunked reads), (2) embeds every cell; `--steps probe` prints the resident memory after opening the file, `register()`, the
loader and 20 batches. Each child reports its own peak RSS (`ru_maxrss`) and times.
RSS that stays flat in N is the claim under test; the data file itself is never loaded whole.

    OMP_NUM_THREADS=1 python scripts/bench_backed.py --sizes 100000 300000 1000000
    python scripts/bench_backed.py --sizes 20000 --epochs 1          # a quick try

Prints one line per size and step; the simulation time and file size are printed too. Not a test."""
import argparse, json, os, resource, subprocess, sys, time
from pathlib import Path

CHILD = r'''
import json, resource, sys, time, os
import torch
torch.set_num_threads(1)
from remadom.api import Remadom
path, what, epochs, batch, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def vmrss(): return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) // 1024
if what == 'probe':   # resident MB after each stage: where the memory goes
    import mudata as md
    from remadom.data.registry import register
    from remadom.data.loader import make_loader
    out = {'imports_mb': vmrss()}
    m = md.read_h5mu(path, backed='r'); out['read_backed_mb'] = vmrss()
    r = register(m, batch_key='batch'); out['register_mb'] = vmrss()
    dl = make_loader(r, batch_size=batch, shuffle=True, seed=0, chunk_size=chunk); out['loader_mb'] = vmrss()
    for i, b in enumerate(dl):
        if i == 20: break
    out['after_20_batches_mb'] = vmrss()
    print('RESULT ' + json.dumps(out)); sys.exit(0)
mods = {'rna': {'kind': 'rna'}, 'atac': {'kind': 'atac'}, 'adt': {'kind': 'adt'}}
t0 = time.perf_counter(); c0 = time.process_time()
cfg = {'data': {'path': path, 'backed': True, 'batch_key': 'batch', 'modalities': mods},
       'model': {'n_latent': 20, 'hidden': [128]},
       'train': {'epochs': epochs, 'batch_size': batch, 'val_fraction': 0.0, 'threads': 1,
                 'early_stopping': {'enabled': False}},
       'logging': {'run_dir': os.path.join(os.path.dirname(path), f'run_{os.path.basename(path)}_{os.getpid()}')}}
m = Remadom(config=cfg)
t_reg = time.perf_counter() - t0
out = {'register_s': round(t_reg, 2)}
if what == 'train':
    t1 = time.perf_counter()
    m.fit()
    out['train_s'] = round(time.perf_counter() - t1, 2)
    out['s_per_epoch'] = round(out['train_s'] / epochs, 2)
elif what == 'embed':
    t1 = time.perf_counter()
    z = m.get_latent(key=None)   # untrained weights: the cost of a pass over every cell is the same
    out['embed_s'] = round(time.perf_counter() - t1, 2)
    out['embedding_mb'] = round(z.nbytes / 2**20, 1)
out['cpu_s'] = round(time.process_time() - c0, 1)
out['peak_rss_mb'] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print('RESULT ' + json.dumps(out))
'''


def simulate_file(n, d:Path, seed=0):
    "Write (once) a paired RNA + ATAC + ADT set of `n` cells; returns its path and the seconds it took (0 if cached)."
    p = d/f'sim_{n}.h5mu'
    if p.exists(): return p, 0.
    t0 = time.perf_counter()
    code = ("import sys; from remadom.data.mock import simulate; "
            "m = simulate('paired', n_cells=int(sys.argv[1]), modalities={'rna': 500, 'atac': 2000, 'adt': 30}, seed=0); "
            "[setattr(a, 'X', a.X.tocsr()) for a in m.mod.values()]; m.write(sys.argv[2])")
    subprocess.run([sys.executable, '-c', code, str(n), str(p)], check=True)
    return p, time.perf_counter() - t0


def child(path, what, epochs, batch, chunk):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, '-c', CHILD, str(path), what, str(epochs), str(batch), str(chunk)],
                       capture_output=True, text=True, env=env)
    line = [l for l in r.stdout.splitlines() if l.startswith('RESULT ')]
    if r.returncode or not line: return {'error': (r.stderr or r.stdout).strip().splitlines()[-1:]}
    return json.loads(line[-1][7:])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', type=int, nargs='+', default=[100_000, 300_000, 1_000_000])
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--batch-size', type=int, default=1024)
    ap.add_argument('--chunk-size', type=int, default=16384, help='cells read at once by the probe (training uses the loader default, 16,384)')
    ap.add_argument('--dir', default='/tmp/remadom_backed', help='where the simulated files go (kept for reruns)')
    ap.add_argument('--steps', nargs='+', default=['train', 'embed'], choices=['train', 'embed', 'probe'])
    a = ap.parse_args(argv)
    d = Path(a.dir); d.mkdir(parents=True, exist_ok=True)
    print(f"# bench_backed {time.strftime('%Y-%m-%d %H:%M')}  batch {a.batch_size}  epochs {a.epochs}  1 thread")
    for n in a.sizes:
        p, t_sim = simulate_file(n, d)
        print(f"N={n:>9,}  file {p.stat().st_size / 2**20:8.0f} MiB  (simulated in {t_sim:.0f}s)", flush=True)
        for what in a.steps:
            r = child(p, what, a.epochs, a.batch_size, a.chunk_size)
            print(f"   {what:6s} {json.dumps(r)}", flush=True)


if __name__ == '__main__':
    main()
