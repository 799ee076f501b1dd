"""One timed fit for bench/peers.py, run in a fresh process (its peak RSS is its own): remadom in remadom's
environment, or an scvi-tools model in bench/.venv-peers. Prints one JSON line and writes the embedding(s) to --out."""
from __future__ import annotations
import argparse, json, os, resource, sys, time, warnings
T_START = time.perf_counter()   # before the imports: the process's wall time includes each tool's import cost
warnings.filterwarnings('ignore')

def _peak_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def _cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime

def _read(path, min_open=0.):
    "The MuData; with `min_open` > 0 only the peaks open in at least that fraction of nuclei (the same peaks for both tools)."
    import mudata as md, numpy as np
    md.set_options(pull_on_update=False)
    m = md.read_h5mu(path)
    if min_open > 0:
        if 'atac' not in m.mod: raise SystemExit(f"--min-open: {path} has no 'atac' modality (it has {list(m.mod)})")
        a = m.mod['atac']; frac = np.asarray((a.X > 0).mean(0)).ravel()
        m.mod['atac'] = a[:, frac >= min_open].copy(); m.update()
    return m

def _adt_holdout(m, frac, seed):
    "Names of the cells whose ADT is hidden (the peers' protocol: 20% at random of the cells with ADT)."
    import numpy as np
    names = np.asarray(m.mod['adt'].obs_names)
    rng = np.random.default_rng(seed)
    return set(names[rng.permutation(len(names))[:int(round(frac * len(names)))]]) if frac > 0 else set()

def run_remadom(a, m):
    import numpy as np, torch
    from remadom.api import Remadom
    cfg = {'seed': a.seed, 'data': {'batch_key': 'batch'}, 'model': {'n_latent': 20},
           'train': {'batch_size': 128, **({'epochs': a.epochs} if a.epochs else {}), **({'precision': a.precision} if a.precision != 'fp32' else {})},
           'logging': {'run_dir': os.path.join(a.out, 'run'), 'progress_bar': False}}
    if a.genes: cfg['data']['n_top_genes'] = a.genes
    t0, c0 = time.perf_counter(), _cpu_s()
    model = Remadom(m, config=cfg)
    t1 = time.perf_counter()
    model.fit()
    t2, c2 = time.perf_counter(), _cpu_s()
    z = model.get_latent(key=None)
    per = {f'mod_{k}': model.get_latent(use=[k], key=None) for k in m.mod} if len(m.mod) == 2 and 'atac' in m.mod else {}
    n_ep = len(model.history['rows'])
    np.savez(os.path.join(a.out, 'emb.npz'), joint=z, obs_names=np.asarray(m.obs_names), **per)
    return dict(setup_s=t1 - t0, fit_s=t2 - t1, fit_cpu_s=c2 - c0, epochs=n_ep)

def run_scvi(a, m):
    import numpy as np, pandas as pd, scipy.sparse as sp, anndata as ad, torch, scvi
    scvi.settings.seed = a.seed
    scvi.settings.dl_num_workers = 0
    rna = m.mod['rna'].copy(); rna.obs['batch'] = m.obs.loc[rna.obs_names, 'batch'].astype(str).values
    if a.genes and rna.n_vars > a.genes:
        import scanpy as sc
        sc.pp.highly_variable_genes(rna, n_top_genes=a.genes, flavor='seurat_v3', batch_key='batch')
        rna = rna[:, rna.var['highly_variable'].values].copy()
    kw = dict(accelerator='cpu', devices=1, batch_size=128, enable_progress_bar=False)
    if a.epochs: kw['max_epochs'] = a.epochs
    t0, c0 = time.perf_counter(), _cpu_s()
    if a.model == 'totalvi':
        adt = m.mod['adt'][rna.obs_names]
        rna.obsm['protein'] = pd.DataFrame(adt.X.toarray() if sp.issparse(adt.X) else adt.X, index=rna.obs_names, columns=adt.var_names)
        scvi.model.TOTALVI.setup_anndata(rna, protein_expression_obsm_key='protein', batch_key='batch')
        model = scvi.model.TOTALVI(rna, n_latent=20); data = rna
    elif a.model == 'multivi':
        import mudata as md
        atac = m.mod['atac'][rna.obs_names].copy()
        data = md.MuData({'rna': rna, 'atac': atac})
        data.obs['batch'] = rna.obs['batch'].values
        data.mod['rna'].obs['batch'] = rna.obs['batch'].values
        scvi.model.MULTIVI.setup_mudata(data, batch_key='batch', modalities={'rna_layer': 'rna', 'atac_layer': 'atac', 'batch_key': 'rna'})
        model = scvi.model.MULTIVI(data, n_genes=rna.n_vars, n_regions=atac.n_vars, n_latent=20)
    else:
        scvi.model.SCVI.setup_anndata(rna, batch_key='batch')
        model = scvi.model.SCVI(rna, n_latent=20); data = rna
    t1 = time.perf_counter()
    model.train(**kw)
    t2, c2 = time.perf_counter(), _cpu_s()
    z = model.get_latent_representation()
    extra = {}
    if a.model == 'multivi':
        extra = dict(mod_rna=model.get_latent_representation(modality='expression'),
                     mod_atac=model.get_latent_representation(modality='accessibility'))
    hist = model.history.get('elbo_train', model.history.get('train_loss_epoch'))
    np.savez(os.path.join(a.out, 'emb.npz'), joint=z, obs_names=np.asarray(data.obs_names), **extra)
    return dict(setup_s=t1 - t0, fit_s=t2 - t1, fit_cpu_s=c2 - c0, epochs=int(len(hist)))

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('model', choices=('remadom', 'totalvi', 'multivi', 'scvi'))
    p.add_argument('data'); p.add_argument('--out', required=True)
    p.add_argument('--epochs', type=int, default=0, help='0: each tool chooses its default training length')
    p.add_argument('--genes', type=int, default=0, help='highly variable genes (0: all)')
    p.add_argument('--seed', type=int, default=0); p.add_argument('--threads', type=int, default=1)
    p.add_argument('--precision', default='fp32', choices=('fp32', 'bf16'), help="remadom's train.precision (the scvi-tools models run float32)")
    p.add_argument('--min-open', type=float, default=0., help='keep the peaks open in at least this fraction of nuclei (0: all)')
    a = p.parse_args()
    import torch; torch.set_num_threads(a.threads)
    # torch.optim imports torch._dynamo on its first use (about 1.2 s here); scvi-tools imports it with Lightning at
    # `import scvi`, before its fit's clock starts. Loading it here keeps it out of both tools' fit times alike;
    # process_s still includes it for both.
    import torch._dynamo
    os.makedirs(a.out, exist_ok=True)
    m = _read(a.data, a.min_open)
    r = run_remadom(a, m) if a.model == 'remadom' else run_scvi(a, m)
    r.update(model=a.model, data=os.path.basename(a.data), n_cells=int(m.n_obs), peak_rss_mb=_peak_mb(), threads=a.threads,
             process_s=time.perf_counter() - T_START, n_features={k: int(v.n_vars) for k, v in m.mod.items()})
    print(json.dumps(r))
