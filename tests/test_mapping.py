"Versioned model files (a model saved by remadom 0.0.1, format v1.1, loads and embeds as it did) and reference mapping on them."
import warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
import anndata as ad, mudata as md
from remadom.api import Remadom
from remadom.core import InputError
from remadom.mapping import map_query, surgery, bake, _row_map
from remadom.model import MosaicVAE

FIX = Path(__file__).parent/'fixtures'/'model_0.0.1_v1.1'
md.set_options(pull_on_update=False)
torch.set_num_threads(1)

def _donor(d):
    m = md.read_h5mu(FIX/'cells.h5mu')
    x = m[m.obs['donor'] == d].copy()
    x.obs['batch'] = x.obs['batch'].cat.remove_unused_categories()
    return x

@pytest.fixture
def saved():
    "The stored model, loaded by this version on its training cells (donor 1)."
    return Remadom.load(FIX/'model', data=_donor('d1'))

def _equal_state(a:dict, b:dict):
    assert list(a) == list(b)
    for k in a: assert torch.equal(a[k], b[k]), k


def test_fixture_is_the_format_it_claims():
    head = (FIX/'model'/'model.pt').read_bytes().split(b'\n', 1)[0].decode()
    assert head.startswith('remadom-checkpoint v1.1 sha256=')
    assert (FIX/'model'/'model.pt').stat().st_size < 300_000


def test_saved_model_loads_and_embeds_as_it_did(saved):
    z = saved.get_latent(key=None)
    ref = np.load(FIX/'latent.npy')
    assert z.shape == ref.shape == (80, 4)
    np.testing.assert_allclose(z, ref, atol=1e-5, rtol=0)
    assert saved.registry.covariates['batch'].categories == ('s1d1',)


def test_map_held_out_donor_keeps_the_reference_bit_identical(saved, tmp_path):
    z1 = saved.get_latent(key=None)
    before = {k: v.clone() for k, v in saved.module.state_dict().items()}
    q = _donor('d2')
    mp = map_query(saved, q, epochs=3, batch_size=32, weight_decay=0.5)    # weight decay must not reach the frozen rows
    _equal_state(saved.module.state_dict(), before)                       # the reference object is not modified
    assert np.array_equal(mp.get_latent(_donor('d1'), key=None), z1)      # bit for bit
    ms = mp.module.state_dict()
    changed = []
    for k, v in before.items():
        if ms[k].shape == v.shape: assert torch.equal(ms[k], v), k; continue
        assert torch.equal(ms[k][_row_map(k, saved.module, mp.module)], v), k
        changed.append(k)
    assert 'tech_batch.weight' in changed and 'encoders.rna.body.embs.0.0.weight' in changed and 'decoders.adt.beta' in changed
    assert mp.registry.covariates['batch'].categories == ('s1d1', 's1d2')
    zq = mp.get_latent(key=None)
    as_ref = q.copy(); as_ref.obs['batch'] = pd.Categorical(['s1d1'] * as_ref.n_obs)
    assert not np.allclose(zq, saved.get_latent(as_ref, key=None), atol=1e-3)   # the query's own encoder rows moved it
    mp.save(tmp_path/'mapped')                                              # a mapped model is a model file like any other
    back = Remadom.load(tmp_path/'mapped', data=q)
    assert np.array_equal(back.get_latent(key=None), zq)
    assert np.array_equal(back.get_latent(_donor('d1'), key=None), z1)


def test_only_the_new_rows_receive_gradients(saved):
    from remadom.data import register
    from remadom.data.loader import make_loader
    from remadom.api import _model_kwargs
    from remadom.mapping import extend_categories
    q = _donor('d2')
    schema, new = extend_categories(saved.registry, q)
    assert new == {'batch': ('s1d2',)}
    qreg = register(q, batch_key='batch', reference=schema)
    m = MosaicVAE(schema.specs, n_batch=2, **_model_kwargs(saved.config))
    tr = surgery(saved.module, m)
    names = [n for n, p in m.named_parameters() if p.requires_grad]
    assert names and all(n.endswith('.original') for n in names) and len(names) == len(tr)
    batch = next(iter(make_loader(qreg, batch_size=80, shuffle=False)))
    m.elbo(batch).loss.backward()
    assert all(p.grad is None for n, p in m.named_parameters() if not p.requires_grad)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in m.named_parameters() if p.requires_grad)
    bake(m)
    assert all(p.requires_grad for p in m.parameters()) and not any('parametrizations' in k for k in m.state_dict())


def test_query_in_a_reference_batch_trains_nothing(saved):
    d1 = _donor('d1')
    mp = map_query(saved, d1[:30].copy(), epochs=2)
    assert mp.mapping['new'] == {} and mp.mapping['trainable'] == [] and mp.history is None
    assert np.array_equal(mp.get_latent(key=None), saved.get_latent(d1[:30].copy(), key=None))


def test_adt_only_query(saved):
    "A query with fewer modalities (a mosaic query): only ADT, in a new batch."
    q = _donor('d2')
    adt = md.MuData({'adt': q['adt'].copy()}); adt.obs = q.obs.copy()
    mp = map_query(saved, adt, epochs=2, batch_size=32)
    assert mp.registry.modalities == saved.registry.modalities and not mp.registry.masks['rna'].any()
    assert np.array_equal(mp.get_latent(_donor('d1'), key=None), saved.get_latent(key=None))
    assert mp.get_latent(key=None).shape == (80, 4)


def test_refuses_other_modalities_and_features(saved):
    q = _donor('d2')
    extra = md.MuData({**dict(q.mod), 'atac': ad.AnnData(q['adt'].X.copy(), obs=q['adt'].obs.copy())}); extra.obs = q.obs.copy()
    with pytest.raises(InputError, match="modality 'atac'"): map_query(saved, extra)
    fewer = md.MuData({'rna': q['rna'][:, 3:].copy(), 'adt': q['adt'].copy()}); fewer.obs = q.obs.copy()
    with pytest.raises(InputError, match=r"query modality 'rna' lacks 3 .*var_names"): map_query(saved, fewer)
    nob = q.copy(); nob.obs = nob.obs.drop(columns='batch')
    with pytest.raises(InputError, match="'batch'"): map_query(saved, nob)


def test_batch_norm_statistics_stay_frozen(tmp_path):
    "With norm='batch' a training-mode forward would overwrite running statistics; map_query keeps them."
    d1 = _donor('d1')
    cfg = {'data': {'batch_key': 'batch'}, 'model': {'n_latent': 4, 'hidden': [16], 'encode_batch': True, 'norm': 'batch'},
           'train': {'epochs': 3, 'batch_size': 32, 'val_fraction': 0., 'early_stopping': {'enabled': False}},
           'logging': {'progress_bar': False, 'run_dir': str(tmp_path/'r')}}
    ref = Remadom(d1, cfg); ref.fit()
    z1 = ref.get_latent(key=None)
    mp = map_query(ref, _donor('d2'), epochs=3, batch_size=32)
    assert np.array_equal(mp.get_latent(d1, key=None), z1)
    rm = [k for k in ref.module.state_dict() if 'running_mean' in k]
    assert rm and all(torch.equal(ref.module.state_dict()[k], mp.module.state_dict()[k]) for k in rm)


def test_new_datasets_and_batches_with_pair_codes(tmp_path):
    "dataset_key too: decoder codes are (dataset, batch) pairs, encoders and the z_tech prior see both; the reference stays bit-identical."
    d1 = _donor('d1'); d1.obs['donor'] = d1.obs['donor'].cat.remove_unused_categories()
    cfg = {'data': {'batch_key': 'batch', 'dataset_key': 'donor'},
           'model': {'n_latent': 4, 'hidden': [16], 'encode_batch': True, 'encode_dataset': True, 'n_latent_tech': 2},
           'train': {'epochs': 2, 'batch_size': 32, 'val_fraction': 0., 'early_stopping': {'enabled': False}},
           'logging': {'progress_bar': False, 'run_dir': str(tmp_path/'r')}}
    ref = Remadom(d1, cfg); ref.fit()
    z1 = ref.get_latent(key=None)
    q = _donor('d2')
    mp = map_query(ref, q, epochs=2, batch_size=32)
    assert mp.mapping['new'] == {'batch': ('s1d2',), 'dataset': ('d2',)}
    assert {'tech_dataset.weight', 'encoders.rna.body.embs.0.1.weight'} <= set(mp.mapping['trainable'])
    assert (mp.module.n_batch, mp.module.n_dataset) == (2, 2)
    assert np.array_equal(mp.get_latent(d1, key=None), z1)
    # a second query: a new batch inside the reference's dataset d1 (decoder code (d1, new batch))
    q2 = d1[:40].copy(); q2.obs['batch'] = pd.Categorical(['s1d1x'] * 40)
    mp2 = map_query(ref, q2, epochs=2, batch_size=32)
    assert mp2.mapping['new'] == {'batch': ('s1d1x',)} and np.array_equal(mp2.get_latent(d1, key=None), z1)


def test_the_api_method_maps_like_the_function(saved):
    "`Remadom.map_query` is `remadom.mapping.map_query` with the reference as `self`."
    q = _donor('d2')
    a, b = saved.map_query(q, epochs=2, batch_size=32, seed=0), map_query(saved, q, epochs=2, batch_size=32, seed=0)
    assert np.array_equal(a.get_latent(key=None), b.get_latent(key=None))
