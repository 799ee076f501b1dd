"""DE of B cells against the rest on real PBMC data, with and without the B cells' RNA (MultiVI's experiment).

For each seed: a model on all cells (RNA + ADT measured), and models whose MuData's `rna` lacks some cells (registered
as RNA-missing; their RNA is imputed from their protein): `type`, every B cell (the decoder never sees B-cell RNA),
and `random`, a random half of all cells (MultiVI's mosaic setting; group 1 is then the B cells of that half). Prints, per seed, the ranks of CD79A and MS4A1 among the genes
up in B cells (measured and imputed), the rank of CD19 protein, and the Spearman correlation of the RNA LFCs with and
without hiding: over all genes and over the expressed genes (mean >= 1 count per 10^4 in the measured model), for the
posterior median pairwise LFC and for the LFC of the group mean scales.

usage: OMP_NUM_THREADS=1 python scripts/de_markers.py [--data teaseq_pbmc_rna_adt] [--seeds 0 1 2] [--epochs 100]
"""
import argparse, json, os, sys, tempfile, time
import numpy as np, pandas as pd, mudata as md, torch
from scipy.stats import spearmanr
from remadom.api import Remadom
from remadom.data import load_example
from remadom.de import differential

torch.set_num_threads(1)
MARKERS = ('CD79A', 'MS4A1')

def b_cells(obs) -> np.ndarray:
    "B cells: TEA-seq 'B.Naive' / 'B.Activated', MIDAS 'B', BMMC names holding the word B (no plasma cells)."
    ct = obs['cell_type'].astype(str)
    return (ct.str.startswith('B.') | (ct == 'B') | ct.str.contains(r'\bB\b')).to_numpy()

def config(seed, epochs, n_top_genes, batch_key):
    return {'seed': seed, 'data': {'n_top_genes': n_top_genes, 'batch_key': batch_key,
                                   'modalities': {'rna': {'kind': 'rna', 'likelihood': 'nb'}, 'adt': {'kind': 'adt', 'likelihood': 'nb'}}},
            'model': {'n_latent': 20, 'hidden': [256]}, 'train': {'epochs': epochs, 'batch_size': 128, 'kl_warmup_epochs': max(1, epochs // 5)},
            'logging': {'run_dir': tempfile.mkdtemp(prefix='remadom_dem_'), 'progress_bar': False}}

def hide_rna(data, hide:np.ndarray, genes) -> md.MuData:
    "A MuData whose rna lacks the cells `hide` (a mask over data.obs) and keeps only `genes`; the adt is untouched."
    rna = data['rna']
    keep = ~hide[data.obs_names.get_indexer(rna.obs_names)]
    out = md.MuData({'rna': rna[keep][:, list(genes)].copy(), 'adt': data['adt'].copy()})
    out.obs = out.obs.join(data.obs.drop(columns=[c for c in data.obs.columns if c in out.obs.columns]))
    return out

def rank(df, g) -> int:
    "1-based rank of `g` among the features up in group 1 (lfc_median > 0); 10**6 when not up."
    up = list(df.index[df['lfc_median'] > 0])
    return up.index(g) + 1 if g in up else 10**6

def mean_lfc(df, eps=0.01) -> pd.Series: return np.log2(df['scale1'] + eps) - np.log2(df['scale2'] + eps)

def compare(out, tag, de, de_h, adt, adt_h):
    "Marker ranks of the hidden model and the rank correlations of its LFCs with the measured model's, into `out`."
    for g in MARKERS: out[f'{g}_rank_{tag}'] = rank(de_h, g)
    out[f'top20_{tag}'] = list(de_h[de_h['lfc_median'] > 0].index[:20])
    de_h = de_h.reindex(de.index)
    expr = ((de['scale1'] + de['scale2']) / 2 >= 1.).to_numpy()       # mean >= 1 count per 10^4 (measured model)
    for name, a, b in (('median', de['lfc_median'], de_h['lfc_median']), ('mean_scale', mean_lfc(de), mean_lfc(de_h))):
        out[f'rho_{name}_all_{tag}'] = float(spearmanr(a, b).statistic)
        out[f'rho_{name}_expr_{tag}'] = float(spearmanr(a[expr], b[expr]).statistic)
    cd19 = next(v for v in adt.index if str(v).upper() == 'CD19')          # 'CD19' (TEA-seq) or 'cd19' (MIDAS)
    out[f'CD19_adt_rank_{tag}'] = rank(adt_h, cd19)
    out[f'rho_adt_{tag}'] = float(spearmanr(adt['lfc_median'], adt_h['lfc_median'].reindex(adt.index)).statistic)

def run(data_name, seed, epochs, n_top_genes, n_samples, library, batch_key, hides=('type', 'random'), hidden_epochs=None):
    data = load_example(data_name)
    if batch_key and batch_key not in data.obs: batch_key = None
    isB = b_cells(data.obs)
    t0 = time.process_time()
    full = Remadom(data, config(seed, epochs, n_top_genes, batch_key)); full.fit()
    genes = full.registry.var_names['rna']
    kw = dict(n_samples=n_samples, library=library, seed=seed)
    de, adt = differential(full, isB, modality='rna', **kw), differential(full, isB, modality='adt', **kw)
    cd19 = next(v for v in adt.index if str(v).upper() == 'CD19')
    out = dict(data=data_name, seed=seed, epochs=epochs, hidden_epochs=hidden_epochs or epochs, n_b=int(isB.sum()), n_cells=int(len(isB)), n_genes=len(genes),
               markers_in_genes=[g for g in MARKERS if g in set(genes)], top20=list(de[de['lfc_median'] > 0].index[:20]),
               CD19_adt_rank=rank(adt, cd19), **{f'{g}_rank': rank(de, g) for g in MARKERS})
    van = differential(full, isB, modality='rna', mode='vanilla', **kw)
    out.update({f'{g}_rank_vanilla': int(list(van.index).index(g)) + 1 for g in MARKERS})
    for hide in hides:
        if hide == 'type': mask = isB                                   # every B cell's RNA hidden (the experiment)
        else: mask = np.random.default_rng(seed).random(len(isB)) < 0.5  # a random half of all cells (MultiVI's mosaic setting)
        hid_data = hide_rna(data, mask, genes)
        hid = Remadom(hid_data, config(seed, hidden_epochs or epochs, None, batch_key)); hid.fit()
        pos = data.obs_names.get_indexer(hid_data.obs_names)
        g1 = isB[pos] & mask[pos]                                       # B cells whose RNA is hidden: imputed only
        assert int(hid.registry.masks['rna'][g1].sum()) == 0             # registered as RNA-missing, not zeroed
        out[f'n_b_hidden_{hide}'] = int(g1.sum())
        g2 = ~isB[pos]                                                  # the other cells (measured or imputed)
        compare(out, hide, de, differential(hid, g1, g2, modality='rna', **kw), adt, differential(hid, g1, g2, modality='adt', **kw))
    out['cpu_s'] = round(time.process_time() - t0, 1)
    return out

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='teaseq_pbmc_rna_adt'); ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--epochs', type=int, default=100); ap.add_argument('--n-top-genes', type=int, default=2000)
    ap.add_argument('--n-samples', type=int, default=10); ap.add_argument('--library', default='1e4')
    ap.add_argument('--batch-key', default='batch'); ap.add_argument('--out', default=None)
    ap.add_argument('--hidden-epochs', type=int, default=None, help='epochs of the models with hidden RNA (default: --epochs)')
    ap.add_argument('--hide', nargs='+', default=['type', 'random'], choices=['type', 'random'])
    a = ap.parse_args()
    lib = a.library if a.library == 'median' else float(a.library)
    rows = []
    for s in a.seeds:
        r = run(a.data, s, a.epochs, a.n_top_genes or None, a.n_samples, lib, a.batch_key, a.hide, a.hidden_epochs)
        rows.append(r); print(json.dumps(r), flush=True)
        if a.out:
            with open(a.out, 'a') as f: f.write(json.dumps(r) + '\n')
    keys = [k for k in rows[0] if k.startswith(('CD', 'MS', 'rho'))]
    print(pd.DataFrame(rows)[['seed'] + keys].T.to_string())
