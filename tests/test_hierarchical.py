"Multi-study runs: the dataset covariate reaches the model, per-study feature masks act and survive save/load, and a study sharing no feature fails loudly."
import json
import numpy as np, pandas as pd, pytest, torch
import anndata as ad, mudata as md
from remadom.api import Remadom
from remadom.core import InputError
from remadom.data import register, union_studies, Registry
from remadom.data.loader import TensorLoader

def _study(prefix, n, genes, prots, seed, shift=0.):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n)
    lam_g = np.where(t[:, None] == 1, 6., 1.) + shift
    lam_p = np.where(t[:, None] == 1, 30., 5.)
    names = [f"{prefix}{i}" for i in range(n)]
    r = ad.AnnData(rng.poisson(lam_g, (n, len(genes))).astype(np.float32), obs=pd.DataFrame(index=names)); r.var_names = genes
    p = ad.AnnData(rng.poisson(lam_p, (n, len(prots))).astype(np.float32), obs=pd.DataFrame(index=names)); p.var_names = prots
    m = md.MuData({'rna': r, 'adt': p})
    m.obs = pd.DataFrame({'cell_type': np.where(t == 1, 'T', 'B'), 'batch': [f"{prefix}b{i % 2}" for i in range(n)]}, index=names)
    return m

G = [f"g{i}" for i in range(30)]
def _studies():
    return {'s1': _study('a', 60, G[:24], ['cd3', 'cd4', 'cd8'], 0), 's2': _study('b', 60, G[6:], ['cd3', 'cd4', 'cd19'], 1, shift=2.)}

def _cfg(tmp_path, **model):
    return {'data': {'batch_key': 'batch', 'dataset_key': 'study'},
            'model': {'n_latent': 4, 'hidden': [16], **model}, 'train': {'epochs': 2, 'batch_size': 32},
            'logging': {'progress_bar': False, 'run_dir': str(tmp_path/'run')}}

def test_dataset_key_changes_the_embedding(tmp_path):
    m1 = Remadom(_studies(), _cfg(tmp_path)); m1.fit()
    c = _cfg(tmp_path/'b'); c['data']['dataset_key'] = None
    m2 = Remadom(_studies(), c); m2.fit()
    z1, z2 = m1.get_latent(key=None), m2.get_latent(key=None)
    assert np.abs(z1 - z2).max() > 1e-3                        # same seed, with and without the dataset covariate
    assert m1.module.decoders['rna'].n_batch == 8 and m2.module.decoders['rna'].n_batch == 4   # (2 datasets x 4 batches) vs 4 batches
    assert m2.module.n_dataset == 1 and m1.module.n_dataset == 2

def test_decoder_depends_on_dataset_code(tmp_path):
    m = Remadom(_studies(), _cfg(tmp_path, n_latent_tech=2))
    b = next(iter(TensorLoader(m.registry, batch_size=16, shuffle=False)))
    z = torch.randn(16, 6)
    d0 = m.module.decode(z, b)['rna'].mean
    b.covariates['dataset'] = 1 - b.covariates['dataset']
    assert (m.module.decode(z, b)['rna'].mean - d0).abs().max() > 1e-5

def test_masks_from_registration_and_save_load(tmp_path):
    m = Remadom(_studies(), _cfg(tmp_path)); m.fit()
    fm = m.registry.feature_masks
    assert fm['rna'].sum(1).tolist() == [24, 24] and fm['adt'].tolist() == [[True, True, True, False], [True, True, False, True]]
    r = Registry.from_dict(json.loads(json.dumps(m.registry.to_dict(include_obs=False))))
    np.testing.assert_array_equal(r.feature_masks['rna'], fm['rna'])
    m.save(tmp_path/'model')
    m2 = Remadom.load(tmp_path/'model', data=union_studies(_studies()))
    np.testing.assert_array_equal(m2.module._fmask_rna[:-1].numpy(), fm['rna'])
    np.testing.assert_allclose(m2.get_latent(key=None), m.get_latent(key=None), atol=1e-5)

def test_unmeasured_values_do_not_reach_the_model(tmp_path):
    u = union_studies(_studies())
    X = u.mod['rna'].X.copy(); X = X.toarray() if hasattr(X, 'toarray') else X
    s = u.mod['rna'].obs['study'].astype(str).to_numpy()
    X2 = X.copy(); X2[np.ix_(s == 's1', np.arange(24, 30))] = 9.; X2[np.ix_(s == 's2', np.arange(0, 6))] = 5.   # unmeasured genes
    u2 = union_studies(_studies()); u2.mod['rna'].X = X2
    m = Remadom(u, _cfg(tmp_path)); m.module.eval()
    reg2 = register(u2, batch_key='batch', dataset_key='study', reference=m.registry)
    b1 = next(iter(TensorLoader(m.registry, batch_size=120, shuffle=False)))
    b2 = next(iter(TensorLoader(reg2, batch_size=120, shuffle=False)))
    torch.testing.assert_close(m.module.encode(b1)[0]['rna'], m.module.encode(b2)[0]['rna'])
    torch.manual_seed(0); l1 = m.module.elbo(b1).loss
    torch.manual_seed(0); l2 = m.module.elbo(b2).loss
    torch.testing.assert_close(l1, l2)
    X3 = X.copy(); X3[s == 's1', 0] += 7.                                                          # a measured gene
    u3 = union_studies(_studies()); u3.mod['rna'].X = X3
    b3 = next(iter(TensorLoader(register(u3, batch_key='batch', dataset_key='study', reference=m.registry), batch_size=120, shuffle=False)))
    torch.manual_seed(0); assert abs(float(m.module.elbo(b3).loss.detach() - l1.detach())) > 1e-3

def test_study_sharing_no_feature_fails_loudly(tmp_path):
    st = _studies()
    st['s2'].mod['adt'].var_names = ['x1', 'x2', 'x3']
    with pytest.raises(InputError, match=r"modality 'adt': study 's1' shares no feature with the other studies \['s2'\]"):
        Remadom(st, _cfg(tmp_path)).fit()
