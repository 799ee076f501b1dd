"""Leiden NMI/ARI (best over resolutions) of remadom embeddings on paired RNA+ATAC: RNA alone, RNA+ATAC (Bernoulli
decoder), RNA+ATAC encoder-only (TF-IDF input, no ATAC decoder), each with/without the subset ELBO.
usage: python scripts/measure_joint.py DATA --seeds 0 --variants rna joint joint_sub enc enc_sub"""
import argparse, json, sys, time, os
from pathlib import Path
import numpy as np, torch, mudata as md
sys.path.insert(0, str(Path(__file__).parent))
from remadom.data import load_example, register
from remadom.data.loader import train_val_split
from remadom.model import MosaicVAE
from remadom.eval import cluster_metrics
from measure_prediction import train
torch.set_num_threads(1)
RES = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0)
VARIANTS = {  # name -> (modalities with spec options, model kwargs)
    'rna': ({'rna': dict(kind='rna')}, {}),
    'joint': ({'rna': dict(kind='rna'), 'atac': dict(kind='atac')}, {}),
    'joint_sub': ({'rna': dict(kind='rna'), 'atac': dict(kind='atac')}, dict(subset_elbo=1.)),
    'joint_tfidf_sub': ({'rna': dict(kind='rna'), 'atac': dict(kind='atac', transform='tfidf')}, dict(subset_elbo=1.)),
    'joint_sub_T2': ({'rna': dict(kind='rna'), 'atac': dict(kind='atac')}, dict(subset_elbo=1., temperatures={'atac': 2.})),
    'joint_sub_T4': ({'rna': dict(kind='rna'), 'atac': dict(kind='atac')}, dict(subset_elbo=1., temperatures={'atac': 4.})),
    'enc_sub_T2': ({'rna': dict(kind='rna'), 'atac': dict(kind='atac', transform='tfidf')}, dict(encoder_only=['atac'], subset_elbo=1., temperatures={'atac': 2.})),
    'enc': ({'rna': dict(kind='rna'), 'atac': dict(kind='atac', transform='tfidf')}, dict(encoder_only=['atac'])),
    'enc_sub': ({'rna': dict(kind='rna'), 'atac': dict(kind='atac', transform='tfidf')}, dict(encoder_only=['atac'], subset_elbo=1.)),
    'joint_attn': ({'rna': dict(kind='rna'), 'atac': dict(kind='atac')}, dict(fusion='attention')),
    'joint_attn_sub': ({'rna': dict(kind='rna'), 'atac': dict(kind='atac')}, dict(fusion='attention', subset_elbo=1.)),
    'joint_skl': ({'rna': dict(kind='rna'), 'atac': dict(kind='atac')}, dict(symmetric_kl=1.)),
    'joint_sub3': ({'rna': dict(kind='rna'), 'atac': dict(kind='atac')}, dict(subset_elbo=3.)),
}
if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('data'); ap.add_argument('--seeds', type=int, nargs='+', default=[0])
    ap.add_argument('--variants', nargs='+', default=list(VARIANTS)); ap.add_argument('--epochs', type=int, default=None)
    ap.add_argument('--out', default='/tmp/joint_results.jsonl'); a = ap.parse_args()
    full = load_example(a.data); lab = full.obs['cell_type'].astype(str).to_numpy()
    for s in a.seeds:
        for v in a.variants:
            t0 = time.time(); mods, kw = VARIANTS[v]
            data = md.MuData({k: full[k].copy() for k in mods}); data.obs['batch'] = full.obs['batch'].astype(str).to_numpy()
            reg = register(data, modalities=mods, batch_key='batch')
            ep = a.epochs or min(round(20000 / reg.n_obs * 400), 400)
            torch.manual_seed(s); np.random.seed(s)
            m = MosaicVAE.from_registry(reg, n_latent=20, hidden=(256,), **kw)
            ran = train(m, reg, train_val_split(reg, 0.1, s), s, ep)
            from remadom.data.loader import TensorLoader
            z, _ = m.embed(TensorLoader(reg, batch_size=512, shuffle=False)); z = z.numpy()
            cm = cluster_metrics(z, lab, resolutions=RES, seed=s)
            r = dict(data=a.data, variant=v, seed=s, epochs=ran, nmi=cm['nmi'], ari=cm['ari'], seconds=round(time.time() - t0))
            print(json.dumps(r), flush=True)
            with open(a.out, 'a') as f: f.write(json.dumps(r) + '\n')
