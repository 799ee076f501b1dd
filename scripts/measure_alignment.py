"""Alignment metrics of a trained run on the unpaired, bridge and query scenarios, beside their floors.

    python scripts/measure_alignment.py RUN_DIR [--paired-run RUN_DIR] [--floor] [--out FILE]

The scenario is read from `obs.role` of the run's data (see `remadom.data.scenarios`):
- unpaired (`A_only`, `B_only`): FOSCTTM between the A and B embeddings of the same source cells, label transfer
  A-only -> B-only (15-NN in the joint space), modality iLISI (role as batch); `--floor`: the gene-activity floor.
- bridge (`paired`, `A_only`, `B_only`): label transfer A-only -> B-only; A imputed for the B-only cells from B alone,
  per-gene Pearson (log-normalised) against the hidden truth (the bundled paired file, by `obs.source_cell`);
  `--paired-run`: the same cells imputed by a model trained with every cell paired (its ratio is the target).
- query (`reference`, `query`): label transfer reference -> query; the non-learned floor kNN on CLR of the query
  modality; iLISI with role as batch.
Writes RUN_DIR/alignment_metrics.json (or --out) and prints it.
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path
os.environ.setdefault('OMP_NUM_THREADS', '1'); os.environ.setdefault('MKL_NUM_THREADS', '1')
import numpy as np, pandas as pd, scipy.sparse as sp
import torch

from remadom.api import Remadom
from remadom.eval.multimodal import foscttm, label_transfer, imputation_metrics

# the bundled paired file each scenario was built from (the hidden truth)
TRUTH = {'snareseq2_bridge': 'snareseq2_mouse_mop', 'snareseq2_unpaired': 'snareseq2_mouse_mop'}

def ilisi(z, groups, k:int=90) -> float:
    "Scaled iLISI (scib-metrics, 0 = separated, 1 = perfectly mixed) of `groups` in `z` with k neighbours."
    from scib_metrics import ilisi_knn
    from scib_metrics.nearest_neighbors import NeighborsResults
    from remadom.eval.multimodal import knn_indices
    z = np.ascontiguousarray(z, np.float32)
    i = knn_indices(z, z, k).astype(np.int64)
    d = np.sqrt(((z[i] - z[:, None]) ** 2).sum(-1))
    return float(ilisi_knn(NeighborsResults(indices=i, distances=d), np.asarray(groups).astype(str)))

def lognorm(x) -> np.ndarray:
    "log1p(1e4 * x / rowsum), dense float64 (rows summing to 0 stay 0)."
    x = x.toarray() if sp.issparse(x) else np.asarray(x, np.float64)
    x = np.asarray(x, np.float64); rs = x.sum(1, keepdims=True); rs[rs == 0] = 1
    return np.log1p(1e4 * x / rs)

def clr(x) -> np.ndarray:
    "Per-cell centred log-ratio, log1p(x / geometric mean), as Seurat's CLR across features."
    x = x.toarray() if sp.issparse(x) else np.asarray(x, np.float64)
    x = np.asarray(x, np.float64)
    return np.log1p(x / np.exp(np.log1p(x).mean(1, keepdims=True)))

def _load(run):
    m = Remadom.load(run)
    names = np.asarray(m.registry.obs_names, dtype=str)
    e = Path(run)/'embeddings.npz'
    if e.exists() and (np.load(e)['obs_names'].astype(str) == names).all(): z = np.load(e)['z']
    else: z = m.get_latent(key=None)
    obs = m.data.obs.reindex(names)
    return m, names, z, obs

def _imputed(m, tgt, use, cells, n_samples):
    "Log-normalised imputation of `tgt` from `use` for obs names `cells` (the decoder mean over `n_samples` latents)."
    return lognorm(m.impute(tgt, cells=np.asarray(cells), use=use, n_samples=n_samples)[0])

def measure(run, paired_run=None, floor=False, k=15, n_samples=10, seed=0, label_key=None) -> dict:
    t0 = time.time()
    m, names, z, obs = _load(run)
    mods = list(m.registry.modalities)
    role, labels = obs['role'].astype(str).to_numpy(), obs[label_key or m.config.data.label_key].astype(str).to_numpy()
    roles = set(role)
    res = dict(run=str(run), example=m.config.data.example, epoch=m.checkpoint.get('epoch'), n_cells=len(names),
               roles={r: int((role == r).sum()) for r in sorted(roles)})
    if roles == {'reference', 'query'}:
        res['problem'] = 'query'
        ref, qry = role == 'reference', role == 'query'
        res['label_transfer'] = label_transfer(z, labels, ref, qry, k=k)
        res['largest_class_fraction'] = float(pd.Series(labels[qry]).value_counts(normalize=True).iloc[0])
        res['ilisi_role'] = ilisi(z, role)
        qmod = [k_ for k_ in mods if m.registry.masks[k_][qry].all()][0]   # the modality every query cell has
        a = m.data.mod[qmod][:, list(m.registry.var_names[qmod])]
        x = clr(a[list(names)].X)
        res[f'floor_knn_clr_{qmod}'] = label_transfer(x, labels, ref, qry, k=k)
        res['floor_ilisi_role'] = ilisi(x, role)
    elif any(r.endswith('_only') for r in roles):
        a, b = mods[0], mods[1]
        sa, sb = role == f'{a}_only', role == f'{b}_only'
        res['problem'] = 'bridge' if 'paired' in roles else 'unpaired'
        res['label_transfer'] = label_transfer(z, labels, sa, sb, k=k)
        res['largest_class_fraction'] = float(pd.Series(labels[sb]).value_counts(normalize=True).iloc[0])
        res['ilisi_role'] = ilisi(z, role)
        if res['problem'] == 'unpaired':
            src = obs['source_cell'].astype(str).to_numpy()
            ia = pd.Index(src[sa]); common = ia.intersection(pd.Index(src[sb]))
            za, zb = z[sa][ia.get_indexer(common)], z[sb][pd.Index(src[sb]).get_indexer(common)]
            res['foscttm'] = foscttm(za, zb)
            if floor: res['floor'] = _floor(m, names, role, labels, src, a, b, k)
        else:
            from remadom.data import load_example
            ex = TRUTH.get(m.config.data.example)
            if ex is None: raise SystemExit(f"no hidden truth known for data.example={m.config.data.example!r}; known: {sorted(TRUTH)}")
            truth = load_example(ex)
            genes = list(m.registry.var_names[a])
            cells = names[sb]; src = obs['source_cell'].astype(str).to_numpy()[sb]
            t = lognorm(truth.mod[a][list(src)][:, genes].X)
            p = _imputed(m, a, [b], cells, n_samples)
            res[f'impute_{a}_from_{b}'] = imputation_metrics(p, t)
            if paired_run is not None:
                mp = Remadom.load(paired_run)
                test_genes = list(mp.registry.var_names[a])
                if test_genes != genes: raise SystemExit(f"{paired_run} models other {a} features than {run}.")
                pp = _imputed(mp, a, [b], src, n_samples)
                res['paired_run'] = str(paired_run)
                # the same transfer in the paired model: A-only source cells embedded from A, B-only ones from B
                pn = np.asarray(mp.registry.obs_names, dtype=str); pos = pd.Index(pn)
                sa_src = obs['source_cell'].astype(str).to_numpy()[sa]
                za_, zb_ = mp.get_latent(key=None, use=[a]), mp.get_latent(key=None, use=[b])
                zz = np.r_[za_[pos.get_indexer(sa_src)], zb_[pos.get_indexer(src)]]
                ll = np.r_[labels[sa], labels[sb]]; ss = np.r_[np.ones(sa.sum(), bool), np.zeros(sb.sum(), bool)]
                res['paired_label_transfer'] = label_transfer(zz, ll, ss, ~ss, k=k)
                res[f'paired_impute_{a}_from_{b}'] = imputation_metrics(pp, t)
                res['impute_ratio_pearson_per_feature'] = res[f'impute_{a}_from_{b}']['pearson_per_feature'] / res[f'paired_impute_{a}_from_{b}']['pearson_per_feature']
    else: raise SystemExit(f"obs.role holds {sorted(roles)}: not an unpaired, bridge or query scenario.")
    res['seconds'] = round(time.time() - t0, 1)
    return res

def _floor(m, names, role, labels, src, a, b, k):
    "The non-learned floor: B's gene activity through the links and A's counts, both in A's PCA space."
    from remadom.align import build_links
    from remadom.links import gene_activity, activity_floor
    L = build_links(m.config.links.to_dict(), m.registry)
    sa, sb = role == f'{a}_only', role == f'{b}_only'
    xa = m.data.mod[a][list(names[sa])][:, list(m.registry.var_names[a])].X
    xb = m.data.mod[b][list(names[sb])][:, list(m.registry.var_names[b])].X
    ea, eb = activity_floor(xa, gene_activity(xb, L))
    e = np.zeros((len(names), ea.shape[1]), np.float32); e[sa], e[sb] = ea, eb
    ia = pd.Index(src[sa]); common = ia.intersection(pd.Index(src[sb]))
    return dict(foscttm=foscttm(ea[ia.get_indexer(common)], eb[pd.Index(src[sb]).get_indexer(common)]),
                label_transfer=label_transfer(e, labels, sa, sb, k=k), ilisi_role=ilisi(e[sa | sb], role[sa | sb]))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('run_dir'); p.add_argument('--paired-run', help='run trained with every cell paired (bridge: imputation reference)')
    p.add_argument('--floor', action='store_true', help='unpaired: also the gene-activity floor')
    p.add_argument('--k', type=int, default=15); p.add_argument('--n-samples', type=int, default=10)
    p.add_argument('--out', help='output JSON (default RUN_DIR/alignment_metrics.json)')
    p.add_argument('--label-key', help="obs column scored (default: the run's data.label_key; give the full labels when "
                                       "the run trained on reference-only labels, e.g. cell_type)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    res = measure(a.run_dir, a.paired_run, a.floor, a.k, a.n_samples, label_key=a.label_key)
    out = Path(a.out) if a.out else Path(a.run_dir)/'alignment_metrics.json'
    out.write_text(json.dumps(res, indent=2, default=float))
    print(json.dumps(res, indent=2, default=float))

if __name__ == '__main__': main()
