"""Out-of-core training and inference: peak RSS and time of `data.backed: true` runs on simulated RNA + ADT + ATAC sets.

For each size N it simulates a paired set once (`remadom.data.mock.simulate`, written to `--dir/sim_N.h5mu`), then, in
a fresh process each, (1) `train`: registers the file backed and trains `--epochs` epochs through `remadom.api.Remadom`
(BackedLoader: chunked reads), (2) `embed`: `get_latent` of every cell, held in memory, (3) `embed_stream`:
`remadom.stream.stream_latent` into a Zarr store, `--stream-chunk` cells at a time, (4) `impute` / (5) `impute_stream`:
the same for the imputation of `--impute-modality` (`Remadom.impute` vs `stream_impute`, `--n-samples` draws);
`--steps probe` prints the resident memory after opening the file, `register()`, the loader and 20 batches. Each
child reports its own peak RSS (`ru_maxrss`), its RSS once the model is built on the opened file (`init_mb`: the
floor every step pays) and times. RSS that stays flat in N is the claim under test; the data file itself is never
loaded whole, and a streamed output never is either.

    OMP_NUM_THREADS=1 python scripts/bench_backed.py --sizes 100000 300000 1000000
    python scripts/bench_backed.py --sizes 100000 300000 --steps embed embed_stream impute impute_stream
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
stream_chunk, target, n_samples = int(sys.argv[6]), sys.argv[7], int(sys.argv[8])
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
out = {'register_s': round(t_reg, 2), 'init_mb': vmrss()}
store = os.path.join(os.path.dirname(path), f'out_{os.path.basename(path)}_{os.getpid()}.zarr')
def store_mb():
    tot = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(store) for f in fs)
    import shutil; shutil.rmtree(store); return round(tot / 2**20, 1)
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
elif what == 'embed_stream':
    from remadom.stream import stream_latent
    t1 = time.perf_counter()
    stream_latent(m, store, chunk_size=stream_chunk)
    out['embed_s'] = round(time.perf_counter() - t1, 2); out['store_mb'] = store_mb()
elif what == 'impute':
    t1 = time.perf_counter()
    mean, sd = m.impute(target, n_samples=n_samples)
    out['impute_s'] = round(time.perf_counter() - t1, 2)
    out['output_mb'] = round((mean.nbytes + sd.nbytes) / 2**20, 1)
elif what == 'impute_stream':
    from remadom.stream import stream_impute
    t1 = time.perf_counter()
    stream_impute(m, store, target, n_samples=n_samples, chunk_size=stream_chunk)
    out['impute_s'] = round(time.perf_counter() - t1, 2); out['store_mb'] = store_mb()
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


def child(path, what, epochs, batch, chunk, stream_chunk=4096, target='rna', n_samples=5):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, '-c', CHILD, str(path), what, str(epochs), str(batch), str(chunk),
                        str(stream_chunk), target, str(n_samples)],
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
    ap.add_argument('--steps', nargs='+', default=['train', 'embed'], help='which of: train, embed, embed_stream, impute, impute_stream, probe',
                    choices=['train', 'embed', 'embed_stream', 'impute', 'impute_stream', 'probe'])
    ap.add_argument('--stream-chunk', type=int, default=4096, help='cells per chunk of embed_stream / impute_stream (remadom.stream chunk_size)')
    ap.add_argument('--impute-modality', default='rna', help='the modality impute / impute_stream impute (default rna, 500 features)')
    ap.add_argument('--n-samples', type=int, default=5, help='Monte-Carlo samples of impute / impute_stream (default 5)')
    a = ap.parse_args(argv)
    d = Path(a.dir); d.mkdir(parents=True, exist_ok=True)
    print(f"# bench_backed {time.strftime('%Y-%m-%d %H:%M')}  batch {a.batch_size}  epochs {a.epochs}  stream chunk {a.stream_chunk}  "
          f"impute {a.impute_modality} x {a.n_samples} samples  1 thread")
    for n in a.sizes:
        p, t_sim = simulate_file(n, d)
        print(f"N={n:>9,}  file {p.stat().st_size / 2**20:8.0f} MiB  (simulated in {t_sim:.0f}s)", flush=True)
        for what in a.steps:
            r = child(p, what, a.epochs, a.batch_size, a.chunk_size, a.stream_chunk, a.impute_modality, a.n_samples)
            print(f"   {what:6s} {json.dumps(r)}", flush=True)


if __name__ == '__main__':
    main()
