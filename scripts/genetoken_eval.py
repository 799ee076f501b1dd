"""The gene-token RNA encoder chosen in the config, against the MLP encoder, on the paired CITE-seq tutorial.

`cost`: CPU ms per cell of the RNA encoder alone (inference: forward without gradients; training: forward + backward)
at one thread, runs alternating between the encoders, median of the repeats; also the one-off cost of the gene2vec
identities (`encoder_inits`) at model build.
`metrics`: the paired tutorial's config (configs of tutorials/01_paired: n_latent 20, hidden [256], NB likelihoods,
batch 128, 20-epoch KL warm-up), trained for --epochs with `data.modalities.rna.options.encoder` = mlp or genetoken;
Leiden NMI / ARI against cell_type (best NMI over resolutions 0.25..2, as the tutorial scores it) and CPU seconds.

`MosaicVAE` builds its encoders with `remadom.genetoken.factory.make_encoder`, so the config's
`data.modalities.rna.options.encoder: genetoken` is all it takes (`patch_model` is kept for older checkouts: a no-op now).

usage: OMP_NUM_THREADS=1 python scripts/genetoken_eval.py cost [--repeats 5]
       OMP_NUM_THREADS=1 python scripts/genetoken_eval.py metrics [--seeds 0] [--epochs 60] [--top-k 64 --d 32 --layers 1]
"""
import argparse, json, sys, tempfile, time
import numpy as np, torch
import remadom.model
from remadom.model import MosaicVAE
from remadom.core import make_spec
from remadom.data import load_example, register
from remadom.nn import Encoder
from remadom.genetoken.factory import make_encoder, encoder_inits
from remadom.genetoken.encoder import GeneTokenEncoder

torch.set_num_threads(1)
RES = (0.25, 0.5, 1.0, 1.5, 2.0)

def patch_model():
    "Make `MosaicVAE.from_registry` build each modality's encoder with `make_encoder` (no-op once 13_model does)."
    if hasattr(remadom.model, 'make_encoder'): return
    orig = MosaicVAE.from_registry.__func__
    def from_registry(cls, registry, **kw):
        m = orig(cls, registry, **kw)
        inits = encoder_inits(registry)
        cats = ([m.n_batch] if m.encode_batch else []) + ([m.n_dataset] if m.encode_dataset else [])
        for k, s in registry.specs.items():
            if s.options.get('encoder', 'mlp') != 'mlp':
                m.encoders[k] = make_encoder(s, m.n_latent + m.n_latent_tech, n_cat_list=cats, dropout=kw.get('dropout', 0.1), **inits.get(k, {}))
        return m
    MosaicVAE.from_registry = classmethod(from_registry)

def gt_options(a) -> dict:
    return {'encoder': 'genetoken', 'genetoken': {'top_k': a.top_k, 'd': a.d, 'n_layers': a.layers, 'n_heads': a.heads}}

def _time(enc, x, lib, train):
    enc.train(train); t = time.perf_counter()
    if train:
        mu, lv = enc.mu_logvar(x, lib); (mu.sum() + lv.sum()).backward()
    else:
        with torch.no_grad(): enc.mu_logvar(x, lib)
    return time.perf_counter() - t

def cost(a):
    cite = load_example('neurips2021_bmmc_cite_starter')
    reg = register(cite, modalities={'rna': dict(kind='rna', **gt_options(a)), 'adt': dict(kind='adt')}, batch_key='batch')
    t0 = time.process_time(); inits = encoder_inits(reg); t_init = time.process_time() - t0
    s = reg.specs['rna']
    encs = {'mlp': make_encoder(make_spec('rna', n_features=s.n_features), 20, hidden=(256,)),
            'genetoken': make_encoder(s, 20, **inits['rna'])}
    x = torch.as_tensor(reg.matrices['rna'][:a.batch].toarray(), dtype=torch.float32); lib = x.sum(1)
    for e in encs.values(): _time(e, x, lib, True)                     # warm-up
    res = {k: {'infer': [], 'train': []} for k in encs}
    cpu0 = time.process_time()
    for _ in range(a.repeats):
        for k, e in encs.items():
            for mode in ('infer', 'train'): res[k][mode].append(_time(e, x, lib, mode == 'train') / a.batch * 1e3)
    med = {k: {m: float(np.median(v)) for m, v in r.items()} for k, r in res.items()}
    out = dict(what='cost', genes=s.n_features, batch=a.batch, repeats=a.repeats, options=gt_options(a), gene2vec_cpu_s=round(t_init, 2),
               cpu_s=round(time.process_time() - cpu0, 1), ms_per_cell=med,
               ratio={m: med['genetoken'][m] / med['mlp'][m] for m in ('infer', 'train')},
               params={k: sum(p.numel() for p in e.parameters()) for k, e in encs.items()})
    print(json.dumps(out), flush=True)
    return out

def metrics(a):
    from remadom.api import Remadom
    from remadom.eval import evaluate
    patch_model()
    cite = load_example('neurips2021_bmmc_cite_starter')
    labels, batches = cite.obs['cell_type'].to_numpy(), cite.obs['batch'].to_numpy()
    rows = []
    for seed in a.seeds:
        for enc in a.encoders:
            rna = {'kind': 'rna', 'likelihood': 'nb', **({'options': gt_options(a)} if enc == 'genetoken' else {})}
            cfg = {'seed': seed, 'data': {'batch_key': 'batch', 'modalities': {'rna': rna, 'adt': {'kind': 'adt', 'likelihood': 'nb'}}},
                   'model': {'n_latent': 20, 'hidden': [256], 'dropout': 0.1},
                   'train': {'epochs': a.epochs, 'batch_size': 128, 'kl_warmup_epochs': min(20, a.epochs // 3)},
                   'logging': {'run_dir': tempfile.mkdtemp(prefix='remadom_gte_'), 'progress_bar': False}}
            t0 = time.process_time()
            m = Remadom(cite, cfg)
            assert isinstance(m.module.encoders['rna'], GeneTokenEncoder if enc == 'genetoken' else Encoder)
            m.fit()
            r = evaluate(m.get_latent(key=None), labels, batches, metrics=['clustering'], resolutions=RES)['remadom']
            row = dict(what='metrics', seed=seed, encoder=enc, epochs=a.epochs, nmi=round(float(r['nmi']), 4), ari=round(float(r['ari']), 4),
                       n_clusters=int(r.get('n_clusters', -1)), cpu_s=round(time.process_time() - t0, 1),
                       options=gt_options(a) if enc == 'genetoken' else None)
            rows.append(row); print(json.dumps(row), flush=True)
    return rows

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('what', choices=['cost', 'metrics'])
    ap.add_argument('--seeds', type=int, nargs='+', default=[0]); ap.add_argument('--epochs', type=int, default=60)
    ap.add_argument('--encoders', nargs='+', default=['mlp', 'genetoken'])
    ap.add_argument('--top-k', type=int, default=64); ap.add_argument('--d', type=int, default=32)
    ap.add_argument('--layers', type=int, default=1); ap.add_argument('--heads', type=int, default=4)
    ap.add_argument('--repeats', type=int, default=5); ap.add_argument('--batch', type=int, default=128)
    a = ap.parse_args()
    cost(a) if a.what == 'cost' else metrics(a)
