"""Where a training step of `MosaicVAE` spends its time: torch.profiler over a few steps, at 1 thread by default.

The default model (`MosaicVAE.from_registry`, n_latent 20, hidden 256) and the fused AdamW step (as the `Trainer`) are run on pre-built batches of
`--batch-size` cells (so the loader is not in the figure; `scripts/bench_train.py` measures it). The step is split
into named regions by wrapping, without changing any code: `encoder:<m>` (`Encoder.mu_logvar`), `decoder:<m>`
(the decoder's forward), `loglik:<m>` (`log_prob_rows` of the decoder's distribution), `backward`, `opt.step`. The
region table gives the CPU milliseconds per step of each forward region (backward is one region: autograd does not
keep the forward's names) and its share of the whole step; `--ops` prints torch's own table of the top operators.

    .venv/bin/python scripts/profile_step.py                                  # TEA-seq RNA+ADT and SNARE-seq2 RNA+ATAC
    .venv/bin/python scripts/profile_step.py --datasets teaseq_pbmc_rna_adt --ops 25
    .venv/bin/python scripts/profile_step.py --sparse                         # 'atac'-kind modalities as sparse CSR batches
"""
from __future__ import annotations
import argparse, itertools, time

def _wrap(obj, name, label):
    import torch
    f = getattr(obj, name)
    def g(*a, **k):
        with torch.profiler.record_function(label): return f(*a, **k)
    setattr(obj, name, g)

def profile(dataset:str, a) -> None:
    import torch
    from torch.profiler import profile as tprofile, ProfilerActivity, record_function
    torch.set_num_threads(a.threads)
    from remadom.core import seed_everything
    from remadom.data import load_example, register
    from remadom.data.loader import TensorLoader
    from remadom.model import MosaicVAE
    reg = register(load_example(dataset), batch_key='batch')
    import scipy.sparse as sp
    sparse = {'none': (), 'atac': tuple(k for k, s in reg.specs.items() if s.kind == 'atac'),
              'all': tuple(k for k in reg.specs if sp.issparse(reg.matrices[k]))}[a.sparse]
    seed_everything(0)
    model = MosaicVAE.from_registry(reg, n_latent=20, hidden=(256,)); model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4, fused=True)   # the Trainer's optimiser on CPU and CUDA
    pre = list(itertools.islice(iter(TensorLoader(reg, batch_size=a.batch_size, shuffle=True, seed=1, drop_last=True, sparse=sparse)), 4))
    for k, enc in model.encoders.items(): _wrap(enc, 'mu_logvar', f'encoder:{k}')
    for k, dec in model.decoders.items():
        fwd = dec.forward
        def dfwd(*x, _f=fwd, _k=k, **kw):
            with record_function(f'decoder:{_k}'): d = _f(*x, **kw)
            _wrap(d, 'log_prob_rows', f'loglik:{_k}')
            return d
        dec.forward = dfwd
    def step(b):
        with record_function('forward'): out = model.elbo(b, kl_weight=1.)
        opt.zero_grad(set_to_none=True)
        with record_function('backward'): out.loss.backward()
        with record_function('opt.step'): opt.step()
    for b in pre[:2]: step(b)                                                 # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    with tprofile(activities=[ProfilerActivity.CPU]) as prof:
        for b in itertools.islice(itertools.cycle(pre), a.steps): step(b)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ev = {e.key: e for e in prof.key_averages()}
    tot = sum(ev[k].cpu_time_total for k in ('forward', 'backward', 'opt.step') if k in ev)
    print(f"\n{dataset} ({'sparse ' + ','.join(sparse) if sparse else 'dense'}; {reg.n_obs} cells, features "
          f"{ {k: s.n_features for k, s in reg.specs.items()} }; batch {a.batch_size}; {a.threads} thread(s); "
          f"{a.steps} profiled steps: {1e3 * wall / a.steps:.1f} ms/step wall, {1e3 * cpu / a.steps:.1f} ms/step CPU, under the profiler)")
    print(f"  {'region':22s} {'ms/step':>8s} {'share':>6s}")
    for k in sorted(ev, key=lambda k: -ev[k].cpu_time_total):
        if k.split(':')[0] in ('forward', 'backward', 'opt.step', 'encoder', 'decoder', 'loglik'):
            print(f"  {k:22s} {ev[k].cpu_time_total / 1e3 / a.steps:8.2f} {ev[k].cpu_time_total / tot:6.1%}")
    if a.ops: print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=a.ops))

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--datasets', default='teaseq_pbmc_rna_adt,snareseq2_mouse_mop')
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--batch-size', type=int, default=256)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--sparse', nargs='?', const='atac', default='none', choices=('none', 'atac', 'all'),
                    help="deliver 'atac'-kind modalities (or all sparse-stored ones: 'all') as sparse CSR batches")
    ap.add_argument('--ops', type=int, default=0, help='also print the top N operators by self CPU time')
    a = ap.parse_args()
    for ds in a.datasets.split(','): profile(ds, a)

if __name__ == '__main__': main()
