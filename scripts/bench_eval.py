"""Time and peak memory of remadom.eval's metrics on a simulated embedding of N cells (default 100,000): no training.

Usage: PYTHONPATH=$PWD OMP_NUM_THREADS=1 python scripts/bench_eval.py [--n 100000] [--dims 30] [--scib] [--max-cells 20000]
Each metric runs in turn; printed: wall seconds, CPU seconds and the process's RSS high-water mark after it (the
peak so far, so a later line is never lower). What is subsampled: silhouettes and the scib suite above --max-cells
cells; Leiden, the kNN graph (FAISS exact), FOSCTTM (blockwise, exact) and label transfer use every cell."""
import argparse, os, resource, time
import numpy as np

def hwm_mb() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def simulate(n, d, n_types=20, n_batches=4, seed=0):
    "Cell-type clusters in d dims with a batch shift, and a second 'modality' view of the same cells (noisy copy)."
    r = np.random.default_rng(seed)
    lab = r.integers(0, n_types, n); bat = r.integers(0, n_batches, n)
    centres = r.normal(scale=1., size=(n_types, d)); shift = r.normal(scale=.5, size=(n_batches, d))
    x = (centres[lab] + shift[bat] + r.normal(size=(n, d))).astype(np.float32)
    y = (x + r.normal(scale=1.5, size=x.shape)).astype(np.float32)
    return x, y, np.array([f't{i}' for i in lab]), np.array([f'b{i}' for i in bat])

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=100_000); ap.add_argument('--dims', type=int, default=30)
    ap.add_argument('--max-cells', type=int, default=20_000); ap.add_argument('--scib', action='store_true')
    ap.add_argument('--only', default='', help='comma-separated words: run only the steps whose name holds one (e.g. FOSCTTM,transfer)')
    a = ap.parse_args()
    import torch; torch.set_num_threads(1)
    from remadom.eval import cluster_metrics, silhouettes
    from remadom.eval.multimodal import foscttm, label_transfer
    from remadom.eval.report import scib_suite, has_scib
    x, y, lab, bat = simulate(a.n, a.dims)
    print(f'{a.n} cells, {a.dims} dims, threads OMP={os.environ.get("OMP_NUM_THREADS")}; start RSS peak {hwm_mb():.0f} MB')
    src = bat == 'b0'
    steps = [('leiden ARI/NMI (kNN graph, 1 resolution)', lambda: cluster_metrics(x, lab, resolution=1.0)),
             (f'silhouettes (label + batch, {a.max_cells} cells)', lambda: silhouettes(x, lab, bat, max_cells=a.max_cells)),
             ('FOSCTTM (exact, ~256 MB distance blocks)', lambda: foscttm(x, y)),
             ('label transfer (FAISS 15-NN, batch b0 -> rest)', lambda: label_transfer(x, lab, src, ~src))]
    if a.scib:
        if not has_scib(): print('scib-metrics not installed: skipped')
        else: steps.append((f'scib suite (2 embeddings, {a.max_cells} cells)',
                            lambda: scib_suite({'remadom': x, 'pca_baseline': y}, lab, bat, max_cells=a.max_cells)))
    if a.only: steps = [s_ for s_ in steps if any(w.lower() in s_[0].lower() for w in a.only.split(','))]
    for name, f in steps:
        t0, c0 = time.time(), time.process_time(); out = f()
        show = {k: round(v, 4) for k, v in (out.items() if isinstance(out, dict) else []) if isinstance(v, float)}
        if a.scib and name.startswith('scib'): show = {k: round(v, 3) for k, v in out['remadom'].items() if k in ('total', 'bio_conservation', 'batch_correction')}
        print(f'{name:50s} wall {time.time() - t0:7.1f} s  cpu {time.process_time() - c0:7.1f} s  peak RSS {hwm_mb():6.0f} MB  {show}', flush=True)

if __name__ == '__main__': main()
