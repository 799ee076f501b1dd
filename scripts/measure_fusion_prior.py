"""Attention fusion and the mixture-of-Gaussians prior against the defaults (PoE, N(0, I)) on a shipped config.

Trains through the Python API with the config's settings (the model is rebuilt with `fusion` / `prior` passed
directly, so this works whether or not `remadom.api` maps the config keys yet), then scores the embedding as the
tutorials do: Leiden NMI/ARI vs cell_type (best of resolutions 0.25-2), batch iLISI (scib-metrics, k=90) when the
config has a batch key; for attention the mean fusion weights and a check that missing modalities get weight 0; for
the mixture prior the ARI of argmax responsibilities beside the Leiden ARI of the same embedding.
usage: python scripts/measure_fusion_prior.py configs/paired_cite.yaml --variants poe attention mog --seeds 0 [--epochs N]"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from remadom.api import Remadom, _model_kwargs
from remadom.core import seed_everything
from remadom.model import MosaicVAE
from remadom.eval import evaluate

VARIANTS = {'poe': {}, 'attention': dict(fusion='attention'), 'mog': dict(prior='mog'),
            'attention_mog': dict(fusion='attention', prior='mog')}
RES = (0.25, 0.5, 1.0, 1.5, 2.0)


def ilisi(z, batches):
    try:
        from scib_metrics import ilisi_knn
        from scib_metrics.nearest_neighbors import NeighborsResults
    except ImportError: return None
    from sklearn.neighbors import NearestNeighbors
    d, i = NearestNeighbors(n_neighbors=90).fit(z).kneighbors(z)
    return float(ilisi_knn(NeighborsResults(indices=i, distances=d), batches))


def run(cfg, variant, seed, epochs, n_components):
    kw = dict(VARIANTS[variant])
    if 'prior' in kw: kw['n_components'] = n_components
    ov = {'logging.run_dir': tempfile.mkdtemp(prefix='remadom_fp_'), 'logging.progress_bar': False, 'seed': seed}
    if epochs: ov['train.epochs'] = epochs
    r = Remadom(None, cfg, **ov)
    seed_everything(r.config.seed)
    r.module = MosaicVAE.from_registry(r.registry, **{**_model_kwargs(r.config), 'fusion': 'poe', 'prior': 'normal', **kw})
    t0 = time.process_time(); w0 = time.time(); hist = r.fit()
    cpu, wall = time.process_time() - t0, time.time() - w0
    z = r.get_latent(key=None)
    c = r.config
    lab = r.data.obs[c.data.label_key].astype(str).to_numpy()
    bat = r.data.obs[c.data.batch_key].astype(str).to_numpy() if c.data.batch_key else None
    ev = evaluate(z, lab, bat, resolutions=RES, seed=seed, metrics=['clustering'])['remadom']
    out = dict(config=Path(cfg).stem, variant=variant, seed=seed, epochs_run=len(hist['rows']) if isinstance(hist, dict) and 'rows' in hist else None,
               best_epoch=(r.checkpoint or {}).get('epoch') if isinstance(r.checkpoint, dict) else None,
               nmi=round(float(ev['nmi']), 4), ari=round(float(ev['ari']), 4), cpu_s=round(cpu), wall_s=round(wall))
    if bat is not None and len(set(bat)) > 1: out['ilisi'] = ilisi(z, bat)
    loader = r._loader(r.registry)
    masks = {k: r.registry.masks[k] for k in r.module.modalities}
    if r.module.attention is not None:
        w = r.module.fusion_weights(loader).numpy()
        allm = np.all(np.stack(list(masks.values()), 1), 1)
        out['mean_weight_all_measured'] = {k: round(float(w[allm, j].mean()), 4) for j, k in enumerate(r.module.modalities)} if allm.any() else None
        out['sd_weight_all_measured'] = {k: round(float(w[allm, j].std()), 4) for j, k in enumerate(r.module.modalities)} if allm.any() else None
        out['max_weight_of_missing'] = max((float(w[~masks[k], j].max()) if (~masks[k]).any() else 0.) for j, k in enumerate(r.module.modalities))
        out['n_cells_missing_a_modality'] = int((~allm).sum())
        out['max_abs_rowsum_minus_1'] = float(np.abs(w.sum(1) - 1).max())
        if 'cell_type' in r.data.obs:   # per cell type mean weight of the first modality on fully measured cells
            ct = lab[allm]; w0 = w[allm, 0]
            out['weight_by_type'] = {t: round(float(w0[ct == t].mean()), 3) for t in sorted(set(ct)) if (ct == t).sum() >= 20}
    if r.module.mixture is not None:
        p = r.module.responsibilities(loader).numpy()
        k = p.argmax(1); ok = lab != 'nan'
        out['mog_argmax_ari'] = round(float(adjusted_rand_score(lab[ok], k[ok])), 4)
        out['mog_argmax_nmi'] = round(float(normalized_mutual_info_score(lab[ok], k[ok])), 4)
        out['mog_components_used'] = int(len(np.unique(k)))
        out['mog_mean_max_resp'] = round(float(p.max(1).mean()), 4)
    return out


if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('config')
    ap.add_argument('--variants', nargs='+', default=list(VARIANTS)); ap.add_argument('--seeds', type=int, nargs='+', default=[0])
    ap.add_argument('--epochs', type=int, default=None); ap.add_argument('--n-components', type=int, default=10)
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--out', default=None); a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for s in a.seeds:
        for v in a.variants:
            res = run(a.config, v, s, a.epochs, a.n_components)
            print(json.dumps(res), flush=True)
            if a.out:
                with open(a.out, 'a') as f: f.write(json.dumps(res) + '\n')
