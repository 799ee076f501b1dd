#!/usr/bin/env python
"""Reference mapping on real data, over seeds 0, 1, 2: kNN label transfer from the reference cells to a query

- CITE-seq starter, held-out donor: reference = donor d1 (batch s1d1), query = donor d2 (batch s1d2);
- TEA-seq: reference = the paired RNA+ADT cells (batch teaseq_train), query = the ADT-only cells (batch teaseq_test);

for (a) `map_query` (scArches surgery), (b) the reference applied to the query as if it were the reference batch (no
surgery) and (c) a model trained de novo on reference + query. Also checks that the reference embedding is
bit-identical after mapping. Prints one line per (data, seed, method) and the mean +- sd over seeds: accuracy and
macro-F1 (fine labels), accuracy over the query cells whose label the reference has, accuracy of coarse lineages
(CITE-seq), and ref_share, the share of reference cells among each query cell's 15 neighbours (mixing; n_ref / n when
the two mix, 0 when they are apart). For a query with fewer modalities (TEA-seq ADT-only) the *_refsame columns
repeat accuracy, macro-F1 and ref_share with the reference cells embedded from the query's modalities alone.

    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/mapping_eval.py [--data cite teaseq] [--seeds 0 1 2] [--quick]
"""
import argparse, json, re, tempfile, time, warnings
import numpy as np, pandas as pd, torch
import anndata as ad, mudata as md
from remadom.api import Remadom
from remadom.data import load_example
from remadom.eval.multimodal import label_transfer
from remadom.mapping import map_query

torch.set_num_threads(1)
md.set_options(pull_on_update=False)
warnings.filterwarnings('ignore', message='.*var_names are not unique.*')

def coarse(t:str) -> str:
    "Lineage of a fine BMMC label (8 groups)."
    rules = [(r'^(CD4\+ T|T reg)', 'CD4 T'), (r'^(CD8\+ T|MAIT|gdT)', 'CD8/unconventional T'), (r'^(NK|ILC)', 'NK/ILC'),
             (r'Mono|DC', 'myeloid'), (r'(^| )B( |$)|^B1|Plasma', 'B'), (r'blast$|^Reticulocyte|MK/E', 'erythroid'),
             (r'prog|HSC', 'progenitor')]
    for pat, name in rules:
        if re.search(pat, t): return name
    return 'other'

def relabel(m, key, b):
    "A copy of `m` whose cells all carry `b` in obs[key] (and in each modality's obs that has the column)."
    m = m.copy(); m.obs[key] = pd.Categorical([b] * m.n_obs)
    for a in (m.mod.values() if hasattr(m, 'mod') else []):
        if key in a.obs.columns: a.obs[key] = pd.Categorical([b] * a.n_obs)
    return m

def scores(z_r, z_q, lab_r, lab_q, coarse_too=True) -> dict:
    z, lab = np.vstack([z_r, z_q]), np.concatenate([lab_r, lab_q])
    src = np.r_[np.ones(len(z_r), bool), np.zeros(len(z_q), bool)]
    known = ~src & np.isin(lab, lab_r)
    lt = label_transfer(z, lab, src, ~src)
    out = dict(acc=lt['accuracy'], f1=lt['macro_f1'], acc_known=label_transfer(z, lab, src, known)['accuracy'], ref_share=ref_share(z, src))
    if coarse_too: out['acc_coarse'] = label_transfer(z, np.array([coarse(t) for t in lab]), src, ~src)['accuracy']
    return out

def ref_share(z, src, k:int=15) -> float:
    "Mean share of reference cells among the k nearest neighbours (self excluded) of each query cell; about n_ref / n when they mix."
    from sklearn.neighbors import NearestNeighbors
    nb = NearestNeighbors(n_neighbors=k + 1).fit(z).kneighbors(z[~src], return_distance=False)[:, 1:]
    return float(src[nb].mean())

def cfg_for(run, seed, epochs, **model):
    return {'seed': seed, 'data': {'batch_key': 'batch'}, 'model': {'n_latent': 16, 'hidden': [128], 'encode_batch': True, **model},
            'train': {'epochs': epochs, 'batch_size': 128, 'val_fraction': 0., 'early_stopping': {'enabled': False}},
            'logging': {'progress_bar': False, 'run_dir': run}}

def run_case(name, ref_data, query, both, ref_batch, lab_r, lab_q, seed, ep_ref, ep_map, coarse_too, extra_cfg=None):
    tmp = tempfile.mkdtemp()
    c = cfg_for(f'{tmp}/ref', seed, ep_ref)
    if extra_cfg: c['data'].update(extra_cfg)
    t0 = time.process_time(); ref = Remadom(ref_data, c); ref.fit(); t_ref = time.process_time() - t0
    z_r = ref.get_latent(key=None)
    t0 = time.process_time(); mapped = map_query(ref, query, epochs=ep_map, seed=seed); t_map = time.process_time() - t0
    identical = bool(np.array_equal(mapped.get_latent(ref_data, key=None), z_r))
    rows = {'surgery': scores(z_r, mapped.get_latent(key=None), lab_r, lab_q, coarse_too),
            'no surgery': scores(z_r, ref.get_latent(relabel(query, 'batch', ref_batch), key=None), lab_r, lab_q, coarse_too)}
    c2 = cfg_for(f'{tmp}/both', seed, ep_ref)
    if extra_cfg: c2['data'].update(extra_cfg)
    t0 = time.process_time(); dn = Remadom(both, c2); dn.fit(); t_dn = time.process_time() - t0
    z = dn.get_latent(key=None)
    pos = pd.Index(dn.registry.obs_names)
    rr, qq = pos.get_indexer(_names(ref_data)), pos.get_indexer(_names(query))
    rows['de novo'] = scores(z[rr], z[qq], lab_r, lab_q, coarse_too)
    qmods = [k for k in mapped.registry.modalities if mapped.registry.masks[k].any()]
    if qmods != ref.registry.modalities:   # a query with fewer modalities: also from the reference cells embedded by those alone
        zr_sub = ref.get_latent(use=qmods, key=None)
        zd_sub = dn.get_latent(use=qmods, key=None)[rr]
        for meth, zr in (('surgery', zr_sub), ('no surgery', zr_sub), ('de novo', zd_sub)):
            zq = {'surgery': mapped.get_latent(key=None), 'no surgery': ref.get_latent(relabel(query, 'batch', ref_batch), key=None), 'de novo': z[qq]}[meth]
            s = scores(zr, zq, lab_r, lab_q, False)
            rows[meth].update(acc_refsame=s['acc'], f1_refsame=s['f1'], ref_share_refsame=s['ref_share'])
    for meth, r in rows.items():
        print(json.dumps(dict(data=name, seed=seed, method=meth, **{k: round(v, 4) for k, v in r.items()})), flush=True)
    print(json.dumps(dict(data=name, seed=seed, reference_bit_identical=identical, cpu_s_reference=round(t_ref, 1),
                          cpu_s_map=round(t_map, 1), cpu_s_denovo=round(t_dn, 1), map_epochs=mapped.mapping['epochs'],
                          trainable=mapped.mapping['trainable'])), flush=True)
    return rows, identical

def _names(d): return np.asarray(d.obs_names if not isinstance(d, dict) else next(iter(d.values())).obs_names).astype(str)

def cite(seed, quick, epochs=None):
    m = load_example('neurips2021_bmmc_cite_starter')
    def donor(d):
        x = m[m.obs['donor'] == d].copy(); x.obs['batch'] = x.obs['batch'].cat.remove_unused_categories(); return x
    d1, d2 = donor('d1'), donor('d2')
    lab = lambda x: x.obs['cell_type'].astype(str).to_numpy()
    ep = epochs or ((20, 20) if quick else (200, 200))
    return run_case('cite held-out donor', d1, d2, m, 's1d1', lab(d1), lab(d2), seed, *ep, True)

def teaseq(seed, quick, epochs=None):
    ref = load_example('teaseq_pbmc_rna_adt')
    q = ad.read_h5ad('data/teaseq_pbmc_query_adt.h5ad')
    if quick: q = q[:600].copy()
    query = md.MuData({'adt': q}); query.obs = q.obs.copy()
    adt = ad.concat([ref['adt'], q]); adt.obs = pd.concat([ref.obs, q.obs])
    both = md.MuData({'rna': ref['rna'], 'adt': adt})
    both.obs = pd.concat([ref.obs, q.obs]).reindex(both.obs_names)
    lab_r, lab_q = ref.obs['cell_type'].astype(str).to_numpy(), q.obs['cell_type'].astype(str).to_numpy()
    ep = epochs or ((10, 10) if quick else (100, 100))
    return run_case('teaseq adt-only query', ref, query, both, 'teaseq_train', lab_r, lab_q, seed, *ep, False,
                    extra_cfg={'n_top_genes': 2000})

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', nargs='+', default=['cite', 'teaseq'], choices=['cite', 'teaseq'])
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--quick', action='store_true', help='few epochs (a smoke test, not figures)')
    p.add_argument('--epochs', nargs=2, type=int, default=None, metavar=('TRAIN', 'MAP'),
                   help='epochs of the reference and de novo models, and of mapping (default: cite 200 200, teaseq 100 100)')
    a = p.parse_args()
    for d in a.data:
        res = [{'cite': cite, 'teaseq': teaseq}[d](s, a.quick, a.epochs) for s in a.seeds]
        print(f"== {d}: mean +- sd over seeds {a.seeds}; reference embedding bit-identical in every seed: {all(r[1] for r in res)}", flush=True)
        for meth in res[0][0]:
            keys = res[0][0][meth]
            print(f"  {meth:11s} " + '  '.join(f"{k} {np.mean([r[0][meth][k] for r in res]):.3f} +- {np.std([r[0][meth][k] for r in res]):.3f}" for k in keys))
