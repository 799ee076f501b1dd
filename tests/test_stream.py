"Streamed embedding and imputation (remadom.stream) of a tiny trained model equal the in-memory results; an existing output is refused."
import numpy as np, pytest
from remadom.api import Remadom
from remadom.core import InputError
from remadom.data.mock import simulate
from remadom.stream import stream_latent, stream_impute, open_stream, MARK


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    "A model of 1,200 simulated RNA + ADT cells (two batches of `get_latent`), trained one epoch."
    sim = simulate('paired', n_cells=1200, modalities={'rna': 60, 'adt': 8}, seed=3)
    cfg = {'data': {'batch_key': 'batch'}, 'model': {'n_latent': 4, 'hidden': [16]},
           'train': {'epochs': 1, 'batch_size': 256, 'val_fraction': 0., 'early_stopping': {'enabled': False}},
           'logging': {'run_dir': str(tmp_path_factory.mktemp('run')), 'progress_bar': False}}
    m = Remadom(sim, cfg); m.fit()
    return m


def test_stream_latent_equals_get_latent(model, tmp_path):
    z, var = model.get_latent(key=None, return_variance=True)
    p = stream_latent(model, tmp_path/'z.zarr', chunk_size=333)
    g = open_stream(p)
    assert g['z'].shape == z.shape == (1200, 4) and g['z'].chunks == (333, 4)
    np.testing.assert_allclose(g['z'][:], z, atol=1e-5)
    np.testing.assert_allclose(g['var'][:], var, atol=1e-6)
    assert list(g['obs_names'][:]) == list(model.data.obs_names)
    assert g.attrs[MARK]['kind'] == 'embed' and g.attrs[MARK]['complete']


def test_stream_impute_equals_impute_on_a_subset(model, tmp_path):
    cells = np.random.default_rng(0).choice(1200, 400, replace=False)
    mean, sd = model.impute('adt', cells=np.sort(cells), use=['rna'], n_samples=3, seed=1)
    g = open_stream(stream_impute(model, tmp_path/'a.zarr', 'adt', cells=cells, features=[5, 1], use=['rna'],
                                  n_samples=3, seed=1, chunk_size=128))
    assert g['mean'].shape == (400, 2)
    np.testing.assert_allclose(g['mean'][:], mean[:, [5, 1]], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g['sd'][:], sd[:, [5, 1]], rtol=1e-4, atol=1e-5)
    assert list(g['obs_names'][:]) == list(model.data.obs_names[np.sort(cells)])


def test_existing_output_and_bad_input_are_refused(model, tmp_path):
    p = stream_latent(model, tmp_path/'z.zarr')
    before = open_stream(p)['z'][:]
    with pytest.raises(InputError, match='already exists; pass overwrite=True'): stream_latent(model, p)
    with pytest.raises(InputError, match='already exists; pass overwrite=True'): stream_impute(model, p, 'adt')
    np.testing.assert_array_equal(open_stream(p)['z'][:], before)            # untouched
    (tmp_path/'mine.zarr').mkdir(); (tmp_path/'mine.zarr'/'notes.txt').write_text('keep')
    with pytest.raises(InputError, match='a folder remadom did not write'): stream_latent(model, tmp_path/'mine.zarr', overwrite=True)
    assert (tmp_path/'mine.zarr'/'notes.txt').read_text() == 'keep'
    with pytest.raises(InputError, match="modality 'protein' is not in the model"): stream_impute(model, tmp_path/'x.zarr', 'protein')
    with pytest.raises(InputError, match='chunk_size=0 must be a positive integer'): stream_latent(model, tmp_path/'x.zarr', chunk_size=0)
    assert not (tmp_path/'x.zarr').exists()
    stream_latent(model, p, overwrite=True, use=['adt'])                     # our own store: replaced
    np.testing.assert_allclose(open_stream(p)['z'][:], model.get_latent(key=None, use=['adt']), atol=1e-5)
