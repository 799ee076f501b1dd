"Issue 12, items 5-8 on real data: silent wrong answers, the batch-norm singleton batch, the user's objects, file modes."
import warnings
import numpy as np, pytest, scipy.sparse as sp
import mudata as md
from remadom.api import Remadom
from remadom.core import InputError
from remadom.data import register
from remadom.data.loader import train_val_split

SMALL = {'data': {'batch_key': 'batch'}, 'model': {'n_latent': 4, 'hidden': [16]},
         'train': {'epochs': 1, 'kl_warmup_epochs': 0}, 'logging': {'progress_bar': False}}


def _cfg(tmp_path, **train):
    import copy
    c = copy.deepcopy(SMALL); c['train'].update(train); c['logging']['run_dir'] = str(tmp_path/'run')
    return c


def test_batch_norm_with_a_one_cell_last_batch_trains(cite, tmp_path):
    "n_train mod batch_size = 1 used to crash batch normalisation; the singleton batch is dropped."
    m = Remadom(cite.copy(), {**_cfg(tmp_path), 'model': {'n_latent': 4, 'hidden': [16], 'norm': 'batch'}})
    n_train = len(train_val_split(m.registry, m.config.train.val_fraction, seed=m.config.seed)[0])
    h = m.fit(**{'train.batch_size': n_train - 1})
    assert n_train % (n_train - 1) == 1 and len(h['rows']) == 1 and np.isfinite(h['rows'][0]['train_loss'])


def test_impute_with_empty_use_no_longer_reads_the_target(cite, tmp_path):
    m = Remadom(cite.copy(), _cfg(tmp_path)); m.fit()
    with pytest.raises(InputError, match=r"use=\[\] selects no modality"): m.impute('adt', use=[])
    a = m.impute('adt', use='rna', n_samples=2, cells=[0, 1])[0]
    b = m.impute('adt', use=['rna'], n_samples=2, cells=[0, 1])[0]
    np.testing.assert_array_equal(a, b)                     # a string is one modality, not its letters


def test_query_with_duplicate_var_names_is_refused(cite, tmp_path):
    "A query whose genes are duplicated (then swapped) used to embed differently; now registration refuses it."
    m = Remadom(cite.copy(), _cfg(tmp_path)); m.fit()
    q = cite.copy(); r = q['rna']
    names = list(r.var_names); names[1] = names[0]; r.var_names = names
    with pytest.raises(InputError, match=r"modality 'rna': var_names are not unique"):
        m.get_latent(q, key=None)


def test_unsorted_csr_of_the_user_is_not_sorted_in_place(cite):
    a = cite['rna'][:40].copy(); X = a.X.tocsr().copy()
    for i in range(X.shape[0]):
        s, e = X.indptr[i], X.indptr[i + 1]
        X.indices[s:e] = X.indices[s:e][::-1].copy(); X.data[s:e] = X.data[s:e][::-1].copy()
    X.has_sorted_indices = False; a.X = X; before = X.indices.copy()
    register({'rna': a})
    np.testing.assert_array_equal(a.X.indices, before)


def test_obsm_mark_survives_h5mu_round_trip_and_protects_user_values(cite, tmp_path):
    m = Remadom(cite.copy(), _cfg(tmp_path)); m.fit()
    data = cite.copy()
    z = m.get_latent(data)
    data.write(tmp_path/'rt.h5mu')
    back = md.read_h5mu(tmp_path/'rt.h5mu')
    np.testing.assert_array_equal(m.get_latent(back), z)        # its own earlier output: replaced, no crash
    assert set(back.uns['remadom']['obsm_written']) == {'X_remadom'}
    back.obsm['X_remadom'] = np.ones_like(z)                    # the user stores their own values there
    with pytest.raises(InputError, match=r"was changed since remadom wrote it"): m.get_latent(back)
    np.testing.assert_array_equal(back.obsm['X_remadom'], np.ones_like(z))
