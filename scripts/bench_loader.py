"""Loader speed and memory: remadom's TensorLoader / BackedLoader against a per-cell torch DataLoader.

Each configuration runs in its own subprocess (so its peak RSS is its own) and prints one JSON line; the parent
prints a table and the speed-up of each remadom loader over the DataLoader baseline. Columns: batches timed,
batches/s and cells/s while iterating (batches are fully built; nothing else is done with them), time to read and
register the data, time to build the loader, RSS after registering (the data), RSS added by building the loader,
and the peak RSS of the whole run (reading and registering included).

    .venv/bin/python scripts/bench_loader.py                          # snareseq2_mouse_mop
    .venv/bin/python scripts/bench_loader.py --data sim --n-cells 1000000
"""
from __future__ import annotations
import argparse, json, os, resource, subprocess, sys, tempfile, time
import numpy as np

CONFIGS = {
    'tensor': 'TensorLoader (in memory, dense)',
    'tensor_sparse': 'TensorLoader (in memory, sparse)',
    'backed': 'BackedLoader (backed, dense)',
    'dataloader': 'torch DataLoader, per-cell AnnData',
}

def _peak_mb() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def _rss_mb() -> float:
    "Current resident set size (Linux /proc; psutil elsewhere)."
    try: return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20
    except OSError: import psutil; return psutil.Process().memory_info().rss / 2**20

# ---------------------------------------------------------------------------------------------- simulated data
def _write_sim(path:str, n_cells:int, seed:int=0):
    "A paired rna (500) + atac (2000) MuData of `n_cells` cells, written (uncompressed) to `path`."
    import anndata as ad, mudata as md, pandas as pd, scipy.sparse as sp
    md.set_options(pull_on_update=False)
    try:
        from remadom.data.mock import simulate
        mdata = simulate(problem='paired', n_cells=n_cells, modalities={'rna': 500, 'atac': 2000}, seed=seed)
        how = 'remadom.data.mock.simulate'
    except ImportError:
        rng, names = np.random.default_rng(seed), [f'cell_{i:07d}' for i in range(n_cells)]
        mods = {}
        for k, p, dens in (('rna', 500, 0.1), ('atac', 2000, 0.025)):
            parts = []
            for s in range(0, n_cells, 100_000):
                m = min(100_000, n_cells - s)
                x = sp.random(m, p, density=dens, format='csr', random_state=rng, dtype=np.float32)
                x.data[:] = rng.geometric(0.5, x.nnz) if k == 'rna' else 1
                parts.append(x)
            mods[k] = ad.AnnData(sp.vstack(parts, format='csr'), obs=pd.DataFrame(index=names),
                                 var=pd.DataFrame(index=[f'{k}{j}' for j in range(p)]))
        mdata = md.MuData(mods)
        mdata.obs['batch'] = np.where(np.arange(n_cells) % 2 == 0, 'b0', 'b1')
        how = 'random scipy counts'
    mdata.write(path)
    return how

# ------------------------------------------------------------------------------------------------- the baseline
def _baseline(mdata, reg, batch_size, seed):
    "torch DataLoader (default collate, no workers) over a Dataset indexing the AnnData cell by cell."
    import torch
    class CellDataset(torch.utils.data.Dataset):
        def __init__(self): self.mods = {k: mdata.mod[k] for k in reg.modalities}
        def __len__(self): return reg.n_obs
        def __getitem__(self, i):
            out = {'index': i, 'batch': int(reg.codes['batch'][i])}
            for k, a in self.mods.items():
                r = reg.rows[k][i]
                x = a.X[r].toarray().ravel() if r >= 0 else np.zeros(a.n_vars, np.float32)   # adata.X[i], densified
                out[k] = torch.from_numpy(x.astype(np.float32, copy=False))
                out[f'{k}_mask'] = bool(r >= 0)
                out[f'{k}_library'] = float(reg.library[k][i])
            return out
    return torch.utils.data.DataLoader(CellDataset(), batch_size=batch_size, shuffle=True, num_workers=0,
                                       generator=torch.Generator().manual_seed(seed))

# ------------------------------------------------------------------------------------------------------- worker
def _worker(cfg:str, path:str, batch_size:int, epochs:int, max_batches:int, chunk_size:int, threads:int):
    import torch, mudata as md
    if threads: torch.set_num_threads(threads)
    from remadom.data.registry import register
    from remadom.data.loader import TensorLoader, BackedLoader
    md.set_options(pull_on_update=False)
    t0 = time.perf_counter()
    backed = cfg == 'backed'
    mdata = md.read_h5mu(path, backed='r' if backed else False)
    reg = register(mdata, batch_key='batch' if 'batch' in mdata.obs else None)
    t_reg, rss0 = time.perf_counter() - t0, _rss_mb()
    t0 = time.perf_counter()
    if cfg == 'tensor': loader = TensorLoader(reg, batch_size=batch_size, seed=0)
    elif cfg == 'tensor_sparse': loader = TensorLoader(reg, batch_size=batch_size, seed=0, sparse=tuple(reg.modalities))
    elif cfg == 'backed': loader = BackedLoader(reg, batch_size=batch_size, seed=0, chunk_size=chunk_size)
    else: loader = _baseline(mdata, reg, batch_size, 0)
    t_setup, rss1 = time.perf_counter() - t0, _rss_mb()
    n_b = n_c = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for b in loader:
            n_b += 1; n_c += len(b['index']) if isinstance(b, dict) else len(b)
            if max_batches and n_b >= max_batches: break
        if max_batches and n_b >= max_batches: break
    dt = time.perf_counter() - t0
    print(json.dumps(dict(cfg=cfg, n_obs=reg.n_obs, batches=n_b, cells=n_c, seconds=dt, batches_s=n_b / dt,
                          cells_s=n_c / dt, register_s=t_reg, setup_s=t_setup, peak_rss_mb=_peak_mb(),
                          data_rss_mb=rss0, loader_mb=rss1 - rss0,
                          features={k: s.n_features for k, s in reg.specs.items()})))

def _run(cfg, path, a) -> dict:
    nb = a.baseline_batches if cfg == 'dataloader' else a.max_batches
    cmd = [sys.executable, os.path.abspath(__file__), '--worker', cfg, '--path', path, '--batch-size', str(a.batch_size),
           '--epochs', str(a.epochs), '--max-batches', str(nb), '--chunk-size', str(a.chunk_size), '--threads', str(a.threads)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode: raise RuntimeError(f"{cfg} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])

def _table(name, rows):
    print(f"\n{name}: {rows[0]['n_obs']:,} cells, features {rows[0]['features']}")
    print(f"{'loader':38s} {'batches':>8s} {'batches/s':>10s} {'cells/s':>11s} {'register s':>10s} {'setup s':>8s} "
          f"{'RSS data MB':>11s} {'+loader MB':>10s} {'peak RSS MB':>11s}")
    for r in rows:
        print(f"{CONFIGS[r['cfg']]:38s} {r['batches']:8d} {r['batches_s']:10.1f} {r['cells_s']:11,.0f} "
              f"{r['register_s']:10.2f} {r['setup_s']:8.2f} {r['data_rss_mb']:11.0f} {r['loader_mb']:10.0f} {r['peak_rss_mb']:11.0f}")
    by = {r['cfg']: r for r in rows}
    if 'dataloader' in by:
        for c in ('tensor', 'tensor_sparse', 'backed'):
            if c in by: print(f"speed-up {CONFIGS[c]} / DataLoader: {by[c]['batches_s'] / by['dataloader']['batches_s']:.1f}x")

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default='snare', choices=['snare', 'sim', 'both'])
    ap.add_argument('--n-cells', type=int, default=1_000_000, help='cells of the simulated set')
    ap.add_argument('--batch-size', type=int, default=512)
    ap.add_argument('--epochs', type=int, default=1, help='epochs timed for the remadom loaders')
    ap.add_argument('--max-batches', type=int, default=0, help='cap on timed batches for the remadom loaders (0: none)')
    ap.add_argument('--baseline-batches', type=int, default=50, help='batches timed for the DataLoader baseline')
    ap.add_argument('--chunk-size', type=int, default=16384)
    ap.add_argument('--configs', default=','.join(CONFIGS), help='comma-separated subset of ' + ','.join(CONFIGS))
    ap.add_argument('--sim-path', default=None, help='reuse (or keep) the simulated .h5mu at this path')
    ap.add_argument('--threads', type=int, default=0, help='torch intra-op threads in every run (0: torch default); '
                    'use 1 on a busy machine, where OpenMP threads that wait for each other dominate small ops')
    ap.add_argument('--worker'); ap.add_argument('--path')
    a = ap.parse_args()
    if a.worker: return _worker(a.worker, a.path, a.batch_size, a.epochs, a.max_batches, a.chunk_size, a.threads)
    cfgs = [c for c in a.configs.split(',') if c]
    bad = [c for c in cfgs if c not in CONFIGS]
    if bad: ap.error(f"unknown configs {bad}; choose from {list(CONFIGS)}")
    print(f"batch size {a.batch_size}; remadom loaders: {a.epochs} epoch(s)"
          f"{f', at most {a.max_batches} batches' if a.max_batches else ''}; DataLoader: {a.baseline_batches} batches; "
          f"torch threads {a.threads or __import__('torch').get_num_threads()}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    if a.data in ('snare', 'both'):
        from remadom.data import example_path
        _table('snareseq2_mouse_mop', [_run(c, str(example_path('snareseq2_mouse_mop')), a) for c in cfgs])
    if a.data in ('sim', 'both'):
        tmp = None
        path = a.sim_path
        if path is None: tmp = tempfile.mkdtemp(); path = os.path.join(tmp, 'sim.h5mu')
        if not os.path.exists(path):
            t0 = time.perf_counter()
            code = f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); import bench_loader as b; print(b._write_sim({path!r}, {a.n_cells}))"
            how = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            print(f"\nsimulated {a.n_cells:,} cells with {how} in {time.perf_counter() - t0:.0f} s -> {path} ({os.path.getsize(path) / 2**20:.0f} MB)")
        try: _table(f'simulated ({os.path.basename(path)})', [_run(c, path, a) for c in cfgs])
        finally:
            if tmp is not None: os.remove(path); os.rmdir(tmp)

if __name__ == '__main__': main()
