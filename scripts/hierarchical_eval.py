"""Hierarchical must-show figures of a `remadom train --config configs/hierarchical.yaml` run.

Per study: Leiden NMI against the study's own labels on the study's cells of the joint embedding, beside remadom trained
on that study alone (same config, no head, no dataset key, the study's own features) and PCA of the study;
study iLISI (scib-metrics `ilisi_knn`, 90 neighbours, scaled to [0, 1]) on the PBMC studies.

    OMP_NUM_THREADS=1 python scripts/hierarchical_eval.py RUN_DIR [--epochs N] [--no-alone] [--pbmc teaseq midas]
"""
import argparse, json, time
from pathlib import Path
import numpy as np, pandas as pd, torch

RES = (0.25, 0.5, 1.0, 1.5, 2.0)

def ilisi(z, groups, k=90):
    "Median scaled iLISI of `groups` on the kNN graph of `z` (scib-metrics)."
    from sklearn.neighbors import NearestNeighbors
    from scib_metrics import ilisi_knn
    from scib_metrics.nearest_neighbors import NeighborsResults
    d, i = NearestNeighbors(n_neighbors=k).fit(z).kneighbors(z)
    return float(ilisi_knn(NeighborsResults(indices=i, distances=d), np.asarray(groups)))

def study_data(m, s):
    "The cells of study `s` of a `three_studies`-like MuData, on the features it measured."
    import anndata as ad, mudata as md
    mods = {}
    for k, a in m.mod.items():
        cells = (a.obs['study'].astype(str) == s).to_numpy()
        if not cells.any(): continue
        meas = a.varm['measured'][s].to_numpy()
        b = a[cells][:, meas]
        mods[k] = ad.AnnData(X=b.X.copy(), obs=pd.DataFrame(index=b.obs_names), var=pd.DataFrame(index=b.var_names))
    md.set_options(pull_on_update=False)
    mu = md.MuData(mods); mu.obs = m.obs.loc[mu.obs_names].copy()
    return mu

def alone(cfg, mu, run_dir, epochs):
    "Embedding of remadom trained on one study with the run's config, no head and no dataset key."
    from remadom.api import Remadom
    c = cfg.to_dict()
    c['data'].update(example=None, path=None, dataset_key=None)
    c['alignment']['heads'] = []
    c['logging'].update(run_dir=str(run_dir), progress_bar=False)
    if epochs: c['train']['epochs'] = epochs
    m = Remadom(mu, c)
    m.fit()
    return m.get_latent(key=None)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('run_dir'); ap.add_argument('--epochs', type=int, default=None, help='epochs of the per-study runs (default: the run\'s)')
    ap.add_argument('--no-alone', action='store_true', help='skip the per-study remadom runs')
    ap.add_argument('--pbmc', nargs='+', default=['teaseq', 'midas'], help='studies scored by study iLISI')
    ap.add_argument('--out', default=None, help='JSON file (default RUN_DIR/hierarchical_metrics.json)')
    a = ap.parse_args()
    torch.set_num_threads(1)
    from remadom.api import Remadom
    from remadom.eval import cluster_metrics, pca_baseline
    run = Path(a.run_dir); t0 = time.time()
    m = Remadom.load(run)
    cfg = m.config
    e = np.load(run/'embeddings.npz', allow_pickle=True)
    z = pd.DataFrame(e['z'], index=np.asarray(e['obs_names'], str))
    obs = m.data.obs
    lk, seed = cfg.data.label_key, cfg.seed
    res = dict(run_dir=str(run), seed=seed, epochs=cfg.train.epochs, studies={})
    for s in pd.unique(obs['study'].astype(str)):
        cells = obs.index[obs['study'].astype(str) == s]
        lab = obs.loc[cells, lk].astype(str).to_numpy()
        r = dict(n_cells=len(cells), n_labels=int(len(set(lab))))
        r['joint'] = cluster_metrics(z.loc[cells].to_numpy(), lab, resolutions=RES, seed=seed)['nmi']
        mu = study_data(m.data, s)
        r['pca'] = cluster_metrics(pca_baseline(mu), mu.obs[lk].astype(str).to_numpy(), resolutions=RES, seed=seed)['nmi']
        if not a.no_alone:
            za = alone(cfg, mu, run/f'alone_{s}', a.epochs)
            r['alone'] = cluster_metrics(za, mu.obs[lk].astype(str).to_numpy(), resolutions=RES, seed=seed)['nmi']
            r['joint_minus_alone'] = r['joint'] - r['alone']
        res['studies'][s] = r
        print(s, json.dumps(r), flush=True)
    pb = obs.index[obs['study'].astype(str).isin(a.pbmc)]
    res['ilisi_pbmc_study'] = ilisi(z.loc[pb].to_numpy(), obs.loc[pb, 'study'].astype(str).to_numpy())
    res['ilisi_all_study'] = ilisi(z.loc[obs.index].to_numpy(), obs['study'].astype(str).to_numpy())
    res['seconds'] = round(time.time() - t0, 1)
    out = Path(a.out) if a.out else run/'hierarchical_metrics.json'
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps({k: v for k, v in res.items() if k != 'studies'}), '->', out)

if __name__ == '__main__': main()
