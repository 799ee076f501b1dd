"""Peak RSS and time of `Remadom(data, config)` with `data.n_top_genes` on a backed `.h5mu`: this tree against another.

Simulates a paired RNA + ADT set once (`remadom.data.mock.simulate`, `--dir/hvg_N.h5mu`), then, in a fresh process
each and alternating `--repeats` times, opens it backed and (`--what hvg`: runs only the HVG selection `api._hvg`) builds `Remadom(m, {'data': {'batch_key': 'batch',
'n_top_genes': K}})` (HVG selection, then `register()`), once with this tree's `remadom` and once with the one under
`--other` (e.g. an export of the previous commit: `git archive COMMIT remadom | tar -x -C /tmp/old`). Each child prints
its peak RSS (`VmHWM`), its RSS after opening the file, wall and CPU seconds, and a digest of the selected genes (the
two trees must agree). Not a test.

    OMP_NUM_THREADS=1 python scripts/bench_hvg_backed.py --cells 200000 --other /tmp/old
"""
import argparse, json, os, subprocess, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from _child import run_child

CHILD = r'''
import json, sys, time, hashlib, warnings
warnings.filterwarnings('ignore')
import torch; torch.set_num_threads(1)
def vm(k='VmRSS'): return int(open('/proc/self/status').read().split(k + ':')[1].split()[0]) // 1024
import mudata as md, remadom
from remadom.api import Remadom
path, k, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
m = md.read_h5mu(path, backed='r'); open_mb = vm()
w, c = time.time(), time.process_time()
cfg = {'data': {'batch_key': 'batch', 'n_top_genes': k}, 'model': {'n_latent': 8, 'hidden': [64]}}
if what == 'hvg':        # the selection alone
    from remadom.api import _hvg, _modalities
    from remadom.config import load_config
    cfg = load_config(cfg); genes = _hvg(cfg, m, _modalities(cfg, m))['rna']
else: genes = list(Remadom(m, cfg).registry.var_names['rna'])
print('RESULT ' + json.dumps(dict(tree=str(remadom.__file__), open_mb=open_mb, peak_mb=vm('VmHWM'), wall_s=time.time() - w,
      cpu_s=time.process_time() - c, n_genes=len(genes), genes=hashlib.sha1(','.join(sorted(map(str, genes))).encode()).hexdigest()[:10])))
'''

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cells', type=int, default=100000); ap.add_argument('--genes', type=int, default=2000)
    ap.add_argument('--top', type=int, default=500); ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--dir', default='/tmp'); ap.add_argument('--what', default='remadom', choices=['remadom', 'hvg'], help='remadom: Remadom(data, config); hvg: the HVG selection alone'); ap.add_argument('--other', default=None, help='folder holding another remadom package to compare')
    a = ap.parse_args()
    here = str(Path(__file__).resolve().parents[1])
    path = Path(a.dir)/f'hvg_{a.cells}_{a.genes}.h5mu'
    if not path.exists():
        sys.path.insert(0, here)
        from remadom.data.mock import simulate
        simulate('paired', n_cells=a.cells, modalities={'rna': a.genes, 'adt': 30}, seed=0).write(path)
    print(f"{path} ({path.stat().st_size / 2**20:.0f} MB on disk)")
    trees = [('this', here)] + ([('other', a.other)] if a.other else [])
    for rep in range(a.repeats):
        for name, tree in (trees if rep % 2 == 0 else trees[::-1]):
            env = {**os.environ, 'PYTHONPATH': tree, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'NUMBA_NUM_THREADS': '1'}
            r = run_child(CHILD, [path, a.top, a.what], env, cwd=a.dir, name=name, tail=1500)   # cwd: `python -c` puts it first on sys.path
            if r is None: continue
            print(f"{name:5} {a.what:7} open {r['open_mb']:5d} MB  peak {r['peak_mb']:5d} MB  wall {r['wall_s']:6.1f} s  CPU {r['cpu_s']:6.1f} s  "
                  f"{r['n_genes']} genes {r['genes']}  ({r['tree']})")

if __name__ == '__main__': main()
