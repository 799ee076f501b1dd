"Bad input to registration: each case gets a clear InputError that names the field and the fix."
import numpy as np, pytest, scipy.sparse as sp
import anndata as ad
from remadom.core import InputError
from remadom.data import register


def test_non_integer_counts(rna):
    rna.X = rna.X * 0.5
    with pytest.raises(InputError, match=r"modalities\.rna \(X\) contains non-integer values.*layers:counts"):
        register({'rna': rna})


def test_negative_counts(rna):
    rna.X = rna.X.copy(); rna.X.data[0] = -1
    with pytest.raises(InputError, match=r"modalities\.rna \(X\) contains negative values"):
        register({'rna': rna})


@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_nan_inf(rna, bad):
    rna.X = rna.X.copy(); rna.X.data[3] = bad
    with pytest.raises(InputError, match=r"modalities\.rna \(X\) contains NaN or Inf"):
        register({'rna': rna})


def test_nan_in_a_layer_is_named(rna):
    x = rna.X.toarray(); x[0, 0] = np.nan
    rna.layers['counts'] = x
    with pytest.raises(InputError, match=r"modalities\.rna \(layers:counts\) contains NaN"):
        register({'rna': rna}, modalities={'rna': {'layer': 'layers:counts'}})


def test_missing_obs_key(rna):
    with pytest.raises(InputError, match=r"obs key 'batchh' not found; available columns: \['batch', 'cell_type'\]\. Did you mean 'batch'"):
        register({'rna': rna}, batch_key='batchh')


def test_obs_key_with_missing_values(rna):
    rna.obs['batch'] = rna.obs['batch'].astype(object); rna.obs.iloc[:5, 0] = None
    with pytest.raises(InputError, match=r"batch_key='batch': 5 cells have no value"):
        register({'rna': rna}, batch_key='batch')


def test_duplicate_obs_names(rna):
    rna.obs_names = ['c0'] * 2 + list(rna.obs_names[2:])
    with pytest.raises(InputError, match=r"obs_names are not unique \(e.g. \['c0'\]\)"):
        register({'rna': rna})


def test_modality_with_zero_cells(cite):
    with pytest.raises(InputError, match=r"modality 'adt' has no cells"):
        register({'rna': cite['rna'][:10].copy(), 'adt': cite['adt'][:0].copy()})


def test_mismatched_var_names_between_batches(rna):
    b1, b2 = rna[:50].copy(), rna[50:].copy()
    b2.var_names = [f"x{i}" if i < 7 else v for i, v in enumerate(b2.var_names)]
    with pytest.raises(InputError, match=r"item 1 has different var names from item 0 \(7 missing"):
        register({'rna': [b1, b2]})


def test_batches_in_a_different_feature_order_are_aligned(rna):
    b1, b2 = rna[:50].copy(), rna[50:, ::-1].copy()
    r = register({'rna': [b1, b2]})
    np.testing.assert_array_equal(r.matrices['rna'].toarray(), rna.X.toarray())


def test_unknown_modality_name(rna):
    with pytest.raises(InputError, match=r"modalities names \['rnaa'\].*Did you mean 'rna'"):
        register({'rna': rna}, modalities={'rnaa': {}})


def test_unknown_kind_is_asked_for(rna):
    with pytest.raises(InputError, match=r"modality 'spliced': cannot infer its kind.*pass kind="):
        register({'spliced': rna})


def test_wrong_input_type():
    with pytest.raises(InputError, match=r"data must be a MuData, an AnnData or a non-empty dict"):
        register(np.zeros((3, 3)))


def test_input_is_not_modified(rna):
    before = rna.copy()
    register({'rna': rna}, batch_key='batch')
    assert (rna.X != before.X).nnz == 0 and rna.obs.equals(before.obs) and list(rna.layers) == list(before.layers)
