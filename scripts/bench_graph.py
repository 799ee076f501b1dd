"""kNN graph and MNN construction cost of `remadom.graph` / `remadom.bridges` on simulated cells.

Each case runs in a fresh subprocess so that its peak resident memory (ru_maxrss) is its own. Data: a Gaussian mixture
(20 clusters, `--dims` dimensions, float32), the shape of a cell embedding. MNN: the cells split into two groups of
equal size (group = cell index parity), with the second group shifted, as two batches.

    python scripts/bench_graph.py                       # 100,000 and 1,000,000 cells, 30 dims, 1 thread
    python scripts/bench_graph.py --sizes 100000 --threads 2
"""
import argparse, json, os, subprocess, sys, time

def _case(n, dims, task, k, threads, index):
    import resource
    import numpy as np, torch
    torch.set_num_threads(threads)
    import faiss
    faiss.omp_set_num_threads(threads)
    from remadom.graph import knn_graph
    from remadom.bridges import mnn_pairs
    rng = np.random.default_rng(0)
    cent = rng.normal(scale=3, size=(20, dims)).astype(np.float32)
    x = np.empty((n, dims), np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000); x[s:e] = cent[rng.integers(0, 20, e - s)] + rng.normal(size=(e - s, dims)).astype(np.float32)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    if task == 'knn_graph':
        g = knn_graph(x, k, as_scipy=True, index=index); out = int(g.nnz)
    else:
        codes = np.arange(n) % 2
        x[codes == 1] += 0.5
        i, j = mnn_pairs(x, codes, k=k, metric='euclidean', index=index); out = int(len(i))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(dict(n=n, task=task, index=index, k=k, wall_s=wall, cpu_s=cpu, peak_mb=peak / 1024, data_mb=x.nbytes / 2**20,
                          rss_before_mb=base / 1024, out=out)))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', type=int, nargs='+', default=[100_000, 1_000_000])
    ap.add_argument('--dims', type=int, default=30)
    ap.add_argument('--k', type=int, default=15)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--tasks', nargs='+', default=['knn_graph', 'mnn'])
    ap.add_argument('--index', default='auto', help="FAISS index: auto (flat up to 200,000 points, then IVF), flat, ivf, hnsw")
    ap.add_argument('--_case', nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._case:
        n, task, index, _ = a._case; return _case(int(n), a.dims, task, a.k, a.threads, index)
    env = {**os.environ, 'OMP_NUM_THREADS': str(a.threads), 'MKL_NUM_THREADS': str(a.threads)}
    rows = []
    for n in a.sizes:
        for task in a.tasks:
            r = subprocess.run([sys.executable, __file__, '--_case', str(n), task, a.index, '-', '--dims', str(a.dims), '--k', str(a.k),
                                '--threads', str(a.threads)], capture_output=True, text=True, env=env)
            if r.returncode: print(r.stderr[-2000:], file=sys.stderr); continue
            rows.append(json.loads(r.stdout.strip().splitlines()[-1])); print(rows[-1], file=sys.stderr, flush=True)
    print(f"\n{'cells':>10} {'task':>10} {'index':>6} {'k':>3} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'data MB':>8} {'edges/pairs':>12}")
    for r in rows:
        idx = r['index'] if r['index'] != 'auto' else ('flat' if (r['n'] if r['task'] == 'knn_graph' else r['n'] // 2) <= 200_000 else 'ivf')
        print(f"{r['n']:>10,} {r['task']:>10} {idx:>6} {r['k']:>3} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {r['peak_mb']:>8.0f} {r['data_mb']:>8.0f} {r['out']:>12,}")
    print(f"\n{a.threads} thread(s); dims {a.dims}; peak MB is the subprocess's peak resident set (data included). "
          "Wall times on a shared machine: compare ratios, and read CPU seconds.")

if __name__ == '__main__': main()
