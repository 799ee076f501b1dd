"""DE of B cells against the rest on real PBMC data, with and without the B cells' RNA (MultiVI's experiment).

For each seed: a model on all cells (RNA + ADT measured), and models whose MuData's `rna` lacks some cells (registered
as RNA-missing; their RNA is imputed from their protein): `type`, every B cell (the decoder never sees B-cell RNA),
and `random`, a random half of all cells (MultiVI's mosaic setting; group 1 is then the B cells of that half). Prints, per seed, the ranks of CD79A and MS4A1 among the genes
up in B cells (measured and imputed), the ranks of other B-cell genes, which T/NK/myeloid genes reach the top 50, how
many of the top 20 a Wilcoxon test on the counts shares, the rank of CD19 protein, and the Spearman correlation of
the RNA LFCs with and without hiding: over all genes and over the expressed genes (mean >= 1 count per 10^4 in the
measured model), for the posterior median pairwise LFC and for the LFC of the group mean scales.

Measured (MIDAS PBMC CITE-seq, 500 genes, 100 epochs, seeds 0 1 2, remadom.de defaults: pseudocount estimated, ties
at P(DE) = 1.00 by the LFC credible bound): CD79A 2/2/2, MS4A1 3/7/9; random half hidden CD79A 1/3/2, MS4A1 3/4/4,
Spearman (median LFC, all genes) 0.89/0.81/0.89; every B cell hidden CD79A 333/307/161, MS4A1 312/not up/311,
Spearman -0.19/-0.08/-0.18; top 20 shared with Wilcoxon's 18/17/17; CD19 protein 2/2/1. With --pseudocount 0.01 (the
old default) MS4A1 ranks 13/19/28, and the old order (ties by |median LFC|) gave 25/18/29.

usage: OMP_NUM_THREADS=1 python scripts/de_markers.py --data pbmc_cite_mosaic_midas --n-top-genes 0 [--seeds 0 1 2]
       [--epochs 100] [--models DIR (save trained models there; reuse them when present)] [--pseudocount X] [--sort-by lfc_bound]
"""
import argparse, json, os, sys, tempfile, time
import numpy as np, pandas as pd, mudata as md, torch
from scipy.stats import spearmanr
from remadom.api import Remadom
from remadom.data import load_example
from remadom.de import differential

torch.set_num_threads(1)
MARKERS = ('CD79A', 'MS4A1')
OTHER_B = ('CD79B', 'CD19', 'CD22', 'BANK1', 'IGHM', 'PAX5')          # other B-cell genes (those among the model's genes are reported)
NOT_B = ('CD5', 'CD8A', 'CD28', 'GZMK', 'CCL5', 'NKG7', 'GNLY', 'S100A8', 'CST3', 'FCGR3A')   # T, NK and myeloid genes

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

def wilcoxon_up(data, isB, genes) -> list:
    "Genes up in B cells by a Wilcoxon test on log-normalised counts (scanpy), best first."
    import scanpy as sc
    r = data['rna'][:, list(genes)].copy()
    r.obs['g'] = np.where(isB[data.obs_names.get_indexer(r.obs_names)], 'B', 'rest')
    sc.pp.normalize_total(r, target_sum=1e4); sc.pp.log1p(r)
    sc.tl.rank_genes_groups(r, 'g', groups=['B'], reference='rest', method='wilcoxon')
    w = sc.get.rank_genes_groups_df(r, 'B')
    return list(w.loc[w['logfoldchanges'] > 0, 'names'])

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

def fit(data, cfg, path=None) -> Remadom:
    "A model trained on `data` with `cfg`; with `path`, loaded from `path` when it holds one, else trained and saved there."
    if path and os.path.exists(os.path.join(path, 'model.pt')): return Remadom.load(path, data=data)
    m = Remadom(data, cfg); m.fit()
    if path: m.save(path)
    return m

def run(data_name, seed, epochs, n_top_genes, n_samples, library, batch_key, hides=('type', 'random'), hidden_epochs=None, models=None, de_kw=None):
    data = load_example(data_name)
    if batch_key and batch_key not in data.obs: batch_key = None
    isB = b_cells(data.obs)
    t0 = time.process_time()
    where = lambda tag: os.path.join(models, f'{data_name}_s{seed}_{tag}') if models else None
    full = fit(data, config(seed, epochs, n_top_genes, batch_key), where(f'full_e{epochs}'))
    genes = full.registry.var_names['rna']
    kw = dict(n_samples=n_samples, library=library, seed=seed, **(de_kw or {}))
    de, adt = differential(full, isB, modality='rna', **kw), differential(full, isB, modality='adt', **kw)
    cd19 = next(v for v in adt.index if str(v).upper() == 'CD19')
    out = dict(data=data_name, seed=seed, epochs=epochs, hidden_epochs=hidden_epochs or epochs, n_b=int(isB.sum()), n_cells=int(len(isB)), n_genes=len(genes),
               markers_in_genes=[g for g in MARKERS if g in set(genes)], top20=list(de[de['lfc_median'] > 0].index[:20]),
               CD19_adt_rank=rank(adt, cd19), **{f'{g}_rank': rank(de, g) for g in MARKERS},
               other_b_ranks={g: rank(de, g) for g in OTHER_B if g in de.index}, not_b_in_top50=[g for g in NOT_B if g in de.index and rank(de, g) <= 50],
               pseudocount=float(de.attrs['pseudocount']))
    wil = wilcoxon_up(data, isB, genes)
    out.update(wilcoxon_top20=wil[:20], top20_overlap_wilcoxon=len(set(wil[:20]) & set(out['top20'])))
    van = differential(full, isB, modality='rna', **{**kw, 'mode': 'vanilla'})
    out.update({f'{g}_rank_vanilla': int(list(van.index).index(g)) + 1 for g in MARKERS})
    for hide in hides:
        if hide == 'type': mask = isB                                   # every B cell's RNA hidden (the experiment)
        else: mask = np.random.default_rng(seed).random(len(isB)) < 0.5  # a random half of all cells (MultiVI's mosaic setting)
        hid_data = hide_rna(data, mask, genes)
        hid = fit(hid_data, config(seed, hidden_epochs or epochs, None, batch_key), where(f'{hide}_e{hidden_epochs or epochs}'))
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
    ap.add_argument('--models', default=None, help='folder where trained models are saved, and loaded from when present')
    ap.add_argument('--pseudocount', type=float, default=None, help='LFC pseudocount (default: estimated, see remadom.de)')
    ap.add_argument('--delta', type=float, default=0.25); ap.add_argument('--sort-by', default='proba_de', choices=['proba_de', 'lfc_bound'])
    a = ap.parse_args()
    lib = a.library if a.library == 'median' else float(a.library)
    rows = []
    for s in a.seeds:
        r = run(a.data, s, a.epochs, a.n_top_genes or None, a.n_samples, lib, a.batch_key, a.hide, a.hidden_epochs, a.models,
                dict(pseudocount=a.pseudocount, delta=a.delta, sort_by=a.sort_by))
        rows.append(r); print(json.dumps(r), flush=True)
        if a.out:
            with open(a.out, 'a') as f: f.write(json.dumps(r) + '\n')
    keys = [k for k in rows[0] if k.startswith(('CD', 'MS', 'rho', 'top20_overlap'))]
    print(pd.DataFrame(rows)[['seed'] + keys].T.to_string())
