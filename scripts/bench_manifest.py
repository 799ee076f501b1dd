"""Training from a data manifest of backed shards against the same data in memory: peak RSS and s/epoch.

Splits a bundled file (default SNARE-seq2, 10,309 nuclei, 1,677 genes + 25,734 ATAC regions) by rows into `--shards`
.h5mu files in `--dir` with a manifest (`backed: true`), then, in a fresh process each and alternating `--repeats`
times: `memory` reads the file into memory and trains through the TensorLoader; `manifest` opens the manifest and
trains through the BackedLoader with chunks of `--chunk` cells (so a chunk never holds a whole shard). Each child
prints its peak RSS (`VmHWM`: ru_maxrss would carry over the parent's peak across fork + exec), its RSS after `register()` and the time per step. Not a test.

    OMP_NUM_THREADS=1 python scripts/bench_manifest.py --shards 3 --epochs 1 --chunk 2048
    OMP_NUM_THREADS=1 python scripts/bench_manifest.py --simulate 60000 --max-steps 60 --repeats 2
"""
import argparse, json, os, subprocess, sys, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from _child import run_child

CHILD = r'''
import json, sys, time
import torch
torch.set_num_threads(1)
from remadom.data import read_data, load_example, register
from remadom.data.loader import TensorLoader, BackedLoader
from remadom.model import MosaicVAE
from remadom.train import Trainer
what, src, epochs, chunk, batch, run, max_steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], int(sys.argv[7])
def vmrss(k='VmRSS'): return int(open('/proc/self/status').read().split(k + ':')[1].split()[0]) // 1024
data = (read_data(src) if src.endswith('.h5mu') else load_example(src)) if what == 'memory' else read_data(src)
reg = register(data, batch_key='batch', chunk_size=chunk)
reg_mb = vmrss()
sparse = tuple(k for k, s in reg.specs.items() if s.likelihood == 'bernoulli')
L = TensorLoader(reg, batch_size=batch, seed=0, sparse=sparse) if what == 'memory' else BackedLoader(reg, batch_size=batch, seed=0, chunk_size=chunk, sparse=sparse)
torch.manual_seed(0)
model = MosaicVAE.from_registry(reg, n_latent=16, hidden=(128,))
t = Trainer(model, L, None, epochs=epochs, lr=2e-3, run_dir=run, progress_bar=False, seed=0, max_steps=max_steps or None)
t0 = time.process_time(); w0 = time.time(); t.fit()
print('RESULT ' + json.dumps(dict(what=what, matrix=type(reg.matrices['rna']).__name__, register_mb=reg_mb,
      peak_mb=vmrss('VmHWM'), s_step=(time.time() - w0) / t.step,
      cpu_s_step=(time.process_time() - t0) / t.step, steps=t.step, loss=t.history['rows'][-1]['train_loss'])))
'''

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--example', default='snareseq2_mouse_mop'); ap.add_argument('--shards', type=int, default=3)
    ap.add_argument('--epochs', type=int, default=1); ap.add_argument('--chunk', type=int, default=2048)
    ap.add_argument('--batch', type=int, default=256); ap.add_argument('--repeats', type=int, default=1)
    ap.add_argument('--dir', default=None); ap.add_argument('--max-steps', type=int, default=0, help='stop after this many steps (0: whole epochs)')
    ap.add_argument('--simulate', type=int, default=0, help='instead of --example: a simulated paired RNA (1,000 genes) + ADT (30) set of this many cells')
    a = ap.parse_args()
    import numpy as np
    from remadom.data import load_example, write_manifest
    d = Path(a.dir or tempfile.mkdtemp(prefix='manifest_bench_')); d.mkdir(parents=True, exist_ok=True)
    if a.simulate:
        from remadom.data.mock import simulate
        m = simulate('paired', n_cells=a.simulate, modalities={'rna': 1000, 'adt': 30}, seed=0)
        a.example = str(d/'full.h5mu'); m.write(a.example)
    else: m = load_example(a.example)
    cuts = np.array_split(np.arange(m.n_obs), a.shards)
    for i, ix in enumerate(cuts): m[ix].copy().write(d/f'shard{i}.h5mu')
    man = write_manifest(d/'data.yaml', [dict(path=f'shard{i}.h5mu', study='all') for i in range(a.shards)], backed=True)
    print(f"{a.example}: {m.n_obs} cells in {a.shards} shards of {[len(c) for c in cuts]} ({d}); chunk {a.chunk}, batch {a.batch}, {a.epochs} epoch(s)")
    del m
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    for r in range(a.repeats):
        for what, src in (('memory', a.example), ('manifest', str(man))):
            res = run_child(CHILD, [what, src, a.epochs, a.chunk, a.batch, d/f'run_{what}_{r}', a.max_steps], env, name=what)
            if res is None: continue
            print(f"{what:9} {res['matrix']:11} register RSS {res['register_mb']:5d} MB  peak RSS {res['peak_mb']:5d} MB  "
                  f"{res['steps']} steps, {res['s_step'] * 1e3:6.1f} ms/step ({res['cpu_s_step'] * 1e3:.1f} CPU ms)  loss {res['loss']:.1f}")

if __name__ == '__main__': main()
