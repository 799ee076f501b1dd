"""Per-step cost of each alignment head: the training step with the head against the same step without it.

A real `MosaicVAE` (`MosaicVAE.from_registry(registry, n_latent)`) on a bundled data set (default
`pbmc_cite_mosaic_midas`: 1,600 cells, 4 batches, RNA-only / ADT-only / paired cells) takes AdamW steps on
pre-built `TensorLoader` batches of `--batch-size` cells (default 512, full batches, cycled): `model.elbo`, plus the
head's loss on `out.extra['z']` (as the Trainer calls it), backward and step. Runs alternate: in each of `--repeats`
rounds every configuration (no head, then each head, order rotated per round) does `--warmup` untimed and `--steps`
timed steps. The table gives per configuration the median ms per step over rounds, the ratio to the no-head step of
the same round (median), CPU seconds per step (process time) and its ratio; on a shared machine the CPU ratio is
the steadier figure (wall time includes waiting for the cores).

Providers are stand-ins with the heads' duck-typed interface: `laplacian` reads a symmetric 15-NN graph of all cells
(on the untrained model's embedding), `crossgraph` a bridge of random cell pairs (one per cell), `temporal` a time
covariate equal to the batch code. The machine may be shared: run with 1 thread (default) and read the ratios.

    .venv/bin/python scripts/bench_heads.py
    .venv/bin/python scripts/bench_heads.py --heads mmd,sinkhorn --steps 10 --repeats 5
"""
from __future__ import annotations
import argparse, os, statistics, time, warnings

HEADS = ('mmd', 'sinkhorn', 'gw', 'adversarial', 'crossgraph', 'laplacian', 'temporal')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--dataset', default='pbmc_cite_mosaic_midas')
    ap.add_argument('--batch-size', type=int, default=512)
    ap.add_argument('--n-latent', type=int, default=20)
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--heads', default=','.join(HEADS))
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(a.threads)
    warnings.filterwarnings('ignore', message='Sparse invariant checks')
    from remadom.core import seed_everything, StepContext, HEADS as REG
    from remadom.data import load_example, register
    from remadom.data.loader import TensorLoader
    from remadom.model import MosaicVAE
    import remadom.heads  # registers the heads

    reg = register(load_example(a.dataset), batch_key='batch')
    seed_everything(0)
    model = MosaicVAE.from_registry(reg, n_latent=a.n_latent); model.train()
    batches = list(TensorLoader(reg, batch_size=a.batch_size, shuffle=True, seed=0, drop_last=True))[:3]
    for b in batches: b.covariates['time'] = b.covariates['batch'].float()

    mu, _ = model.embed(TensorLoader(reg, batch_size=1024, shuffle=False)); model.train()
    d = torch.cdist(mu, mu); d.fill_diagonal_(float('inf'))
    nn_ = d.topk(15, largest=False).indices; n = len(mu)
    A = torch.sparse_coo_tensor(torch.stack([torch.arange(n).repeat_interleave(15), nn_.reshape(-1)]), torch.ones(n * 15), (n, n))
    A = (A + A.t()).coalesce()   # symmetric; weights reset to 1 below
    A = torch.sparse_coo_tensor(A.indices(), torch.ones_like(A.values()), A.shape).coalesce()
    g = torch.Generator().manual_seed(0)
    pairs = torch.stack([torch.arange(n), torch.randperm(n, generator=g)])

    class Graph:
        "Stand-in graph provider: adjacency(index) -> sparse (n, n) over the batch cells."
        def adjacency(self, index): return A.index_select(0, index).index_select(1, index)
    class Bridge:
        "Stand-in bridge provider: edges(index) -> (i, j, w) local positions of pairs inside the batch."
        def edges(self, index):
            pos = torch.full((n,), -1, dtype=torch.long); pos[index] = torch.arange(len(index))
            li, lj = pos[pairs[0]], pos[pairs[1]]; k = (li >= 0) & (lj >= 0)
            return li[k], lj[k], torch.ones(int(k.sum()))
    providers = {'knn': Graph(), 'bridge': Bridge()}

    names = [h for h in a.heads.split(',') if h]
    heads = {'none': None}
    for h in names:
        heads[h] = REG[h]() if h == 'temporal' else REG[h].from_registry(reg)
    opts = {k: torch.optim.AdamW([*model.parameters(), *(h.parameters() if h is not None else [])], lr=1e-4) for k, h in heads.items()}
    step_no = [0]

    def step(key):
        h, opt = heads[key], opts[key]
        b = batches[step_no[0] % len(batches)]; step_no[0] += 1
        opt.zero_grad(set_to_none=True)
        out = model.elbo(b)
        loss = out.loss
        if h is not None:
            l, _ = h(out.extra['z'].float(), StepContext(batch=b, out=out, step=step_no[0], providers=providers, model=model))
            loss = loss + l
        loss.backward(); opt.step()

    for k in heads: step(k)  # materialise lazy layers and optimiser state
    keys = list(heads)
    wall = {k: [] for k in keys}; cpu = {k: [] for k in keys}; ratio = {k: [] for k in keys}; cratio = {k: [] for k in keys}
    for r in range(a.repeats):
        order = keys[r % len(keys):] + keys[:r % len(keys)]
        this = {}
        for k in order:
            for _ in range(a.warmup): step(k)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(a.steps): step(k)
            this[k] = ((time.perf_counter() - t0) / a.steps, (time.process_time() - c0) / a.steps)
        for k in keys:
            wall[k].append(this[k][0]); cpu[k].append(this[k][1]); ratio[k].append(this[k][0] / this['none'][0]); cratio[k].append(this[k][1] / this['none'][1])
    med = statistics.median
    print(f"dataset {a.dataset}, {reg.n_obs} cells, batch {a.batch_size}, n_latent {a.n_latent}, {a.threads} thread(s), "
          f"{a.repeats} rounds x {a.steps} steps, load average {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'head':12s} {'ms/step':>9s} {'x no-head':>10s} {'CPU s/step':>11s} {'CPU x no-head':>14s}")
    for k in keys:
        print(f"{k:12s} {1e3 * med(wall[k]):9.1f} {med(ratio[k]):10.2f} {med(cpu[k]):11.3f} {med(cratio[k]):14.2f}")

if __name__ == '__main__':
    main()
