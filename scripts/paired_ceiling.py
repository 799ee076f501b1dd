"""The all-paired reference for the SNARE-seq2 bridge and unpaired label-transfer targets.

Trains remadom on `snareseq2_mouse_mop` with every nucleus paired and the subset ELBO on (`model.subset_elbo=1`, no
heads; n_latent 20, hidden [256], batch 256, the best checkpoint by validation loss), then scores the split of the
`snareseq2_bridge` scenario: its `rna_only` nuclei embedded from RNA alone, its `atac_only` nuclei from ATAC alone, and
15-NN label transfer RNA -> ATAC (`remadom.eval.multimodal.label_transfer`), beside ATAC -> ATAC and RNA -> RNA with the
true labels. A bridge or unpaired model sees less pairing than this one, so its transfer is not expected above it.

    OMP_NUM_THREADS=1 python scripts/paired_ceiling.py --seed 0 --epochs 30
"""
from __future__ import annotations
import argparse, json, time, warnings
import numpy as np, torch
from remadom.api import Remadom
from remadom.data import load_example
from remadom.eval.multimodal import label_transfer

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--seed', type=int, default=0); ap.add_argument('--epochs', type=int, default=30)
    ap.add_argument('--subset-elbo', type=float, default=1.0); ap.add_argument('--run-dir', default='runs/paired_ceiling')
    a = ap.parse_args()
    warnings.filterwarnings('ignore'); torch.set_num_threads(1)
    full, scen = load_example('snareseq2_mouse_mop'), load_example('snareseq2_bridge')
    cfg = {'name': 'paired_ceiling', 'seed': a.seed,
           'data': {'batch_key': 'batch', 'modalities': {'rna': {'kind': 'rna'}, 'atac': {'kind': 'atac'}}},
           'model': {'n_latent': 20, 'hidden': [256], 'subset_elbo': a.subset_elbo},
           'train': {'epochs': a.epochs, 'batch_size': 256}, 'logging': {'run_dir': f'{a.run_dir}_{a.seed}'}}
    t = time.time(); m = Remadom(full, cfg); m.fit()
    zr, za = (np.asarray(m.get_latent(use=[k], key=None)) for k in ('rna', 'atac'))
    pos = {n: i for i, n in enumerate(full.obs_names)}
    role, src = scen.obs['role'].astype(str).to_numpy(), scen.obs['source_cell'].astype(str).to_numpy()
    ia, ib = (np.array([pos[s] for s in src[role == r]]) for r in ('rna_only', 'atac_only'))
    lab = full.obs['cell_type'].astype(str).to_numpy(); labs = np.r_[lab[ia], lab[ib]]
    s = np.r_[np.ones(len(ia), bool), np.zeros(len(ib), bool)]
    out = dict(seed=a.seed, epochs=a.epochs, best_epoch=m.history.get('best_epoch'), subset_elbo=a.subset_elbo,
               rna_to_atac=label_transfer(np.r_[zr[ia], za[ib]], labs, s, ~s),
               atac_to_atac=label_transfer(np.r_[za[ia], za[ib]], labs, s, ~s),
               rna_to_rna=label_transfer(np.r_[zr[ia], zr[ib]], labs, s, ~s), seconds=round(time.time() - t))
    print(json.dumps(out))
