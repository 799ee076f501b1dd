"""Data manifests: bad input named by field, a model trained from a 3-shard backed manifest (Python and the CLI's
`--data`), and two gloo processes training on the manifest like one process on the concatenated data.

Why the DDP tolerance is what it is: see tests/test_ddp.py (a deterministic model; the two runs differ only by the
order of float32 sums, < 5e-7 relative there; 1e-5 allowed). A wrong shard, a rank reading another rank's rows or a
shard read out of order moves the losses by far more."""
import json, os, shutil, subprocess, sys, textwrap
from pathlib import Path
import numpy as np, pytest, scipy.sparse as sp
from remadom.core import InputError
from remadom.data import read_data, register, write_manifest, read_manifest, open_manifest
from remadom.distributed import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def shards(tmp_path_factory, cite):
    "Three backed .h5mu row shards of the CITE-seq starter and their manifest."
    d = tmp_path_factory.mktemp('manifest')
    for i, ix in enumerate([np.arange(0, 200), np.arange(200, 420), np.arange(420, 600)]): cite[ix].copy().write(d/f'cite{i}.h5mu')
    write_manifest(d/'cite.yaml', [dict(path=f'cite{i}.h5mu', study='bm') for i in range(3)], backed=True)
    return d


def test_missing_manifest_file(tmp_path):
    with pytest.raises(InputError, match=r"data\.path='.*nope\.yaml' does not exist"):
        read_data(tmp_path/'nope.yaml', field='data.path')
    with pytest.raises(InputError, match=r"manifest '.*nope\.json' does not exist"):
        read_manifest(tmp_path/'nope.json')


def test_shard_path_missing(shards):
    (shards/'m1.yaml').write_text('shards:\n  - {path: cite0.h5mu, study: a}\n  - {path: gone.h5ad, modality: rna, study: b}\n')
    with pytest.raises(InputError, match=r"data\.path=.*m1\.yaml.*shards\[1\]\.path='gone\.h5ad' does not exist.*manifest's folder"):
        read_data(shards/'m1.yaml', field='data.path')


def test_unknown_modality(shards):
    (shards/'m2.yaml').write_text('shards:\n  - {path: cite0.h5mu, study: a, modalities: [rna, atac]}\n')
    with pytest.raises(InputError, match=r"shards\[0\]\.modalities names 'atac', which the shard does not hold; it holds \['rna', 'adt'\]"):
        read_data(shards/'m2.yaml')
    (shards/'m3.yaml').write_text('shards:\n  - {path: cite0.h5mu, study: a, modality: [rna-1]}\n')
    with pytest.raises(InputError, match=r"shards\[0\]\.modality=.*must name modalities"):
        read_data(shards/'m3.yaml')


def test_mismatched_features(shards, cite):
    g = cite['rna'].var_names
    cite['rna'][:100, g[:500]].copy().write_h5ad(shards/'r0.h5ad'); cite['rna'][100:200, g[:499]].copy().write_h5ad(shards/'r1.h5ad')
    bad = [dict(path='r0.h5ad', modality='rna', study='s'), dict(path='r1.h5ad', modality='rna', study='s')]
    with pytest.raises(InputError, match=r"shards\[1\] \('r1'\) and shards\[0\] \('r0'\) are both study 's' but their 'rna' features differ \(1 missing"):
        open_manifest(read_manifest({'shards': bad}, folder=shards))
    two = open_manifest(read_manifest({'shards': [bad[0], dict(bad[1], study='t')]}, folder=shards))   # two studies: the union with masks
    assert two['rna'].n_vars == 500 and two['rna'].varm['measured'].sum(0).tolist() == [500, 499]
    with pytest.raises(InputError, match=r"shards\[0\]\.features: 1 names are not features of the shard's 'rna'"):
        open_manifest(read_manifest({'shards': [dict(bad[1], features=list(g[:500]))]}, folder=shards))


def test_unknown_key_and_suffix(shards):
    with pytest.raises(InputError, match=r"shards\[0\]\.modalitiy is not a manifest key.*Did you mean 'modality'"):
        read_manifest({'shards': [{'path': 'cite0.h5mu', 'study': 'a', 'modalitiy': 'rna'}]}, folder=shards)
    (shards/'m.txt').write_text('x')
    with pytest.raises(InputError, match=r"manifest '.*m\.txt' must be a \.yaml, \.yml or \.json file"):
        read_manifest(shards/'m.txt')


CONFIG = {'data': {'batch_key': 'batch', 'label_key': 'cell_type'}, 'model': {'n_latent': 4, 'hidden': [32]},
          'train': {'epochs': 2, 'batch_size': 128, 'kl_warmup_epochs': 1}, 'logging': {'progress_bar': False}}


def test_fit_from_manifest_and_cli_embed(shards, tmp_path):
    "Remadom fits 2 epochs from the backed manifest; `remadom embed RUN --data manifest.yaml` embeds every cell."
    from remadom.api import Remadom
    m = Remadom(read_data(shards/'cite.yaml', field='data.path'), {**CONFIG, 'logging': {**CONFIG['logging'], 'run_dir': str(tmp_path/'run')}})
    assert type(m.registry.matrices['rna']).__name__ == 'ShardStack'
    h = m.fit()
    assert len(h['rows']) == 2 and np.isfinite(h['rows'][-1]['train_loss'])
    p = subprocess.run([sys.executable, '-m', 'remadom.cli', 'embed', str(tmp_path/'run'), '--data', str(shards/'cite.yaml')],
                       env={**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    e = np.load(tmp_path/'run'/'embeddings.npz', allow_pickle=False)
    assert e['z'].shape == (600, 4) and np.isfinite(e['z']).all()
    assert list(e['obs_names']) == list(m.registry.obs_names)
    np.testing.assert_allclose(e['z'], m.get_latent(key=None), atol=1e-5)   # the CLI, reading the manifest again, embeds as the fitted model


def test_config_data_path_manifest(shards, tmp_path):
    from remadom.api import Remadom
    cfg = {**CONFIG, 'data': {**CONFIG['data'], 'path': str(shards/'cite.yaml')}, 'logging': {'progress_bar': False, 'run_dir': str(tmp_path/'r')}}
    m = Remadom(config=cfg)
    m.fit(epochs=1)
    assert type(m.registry.matrices['rna']).__name__ == 'ShardStack'


SCRIPT = textwrap.dedent('''
    import json, sys, torch
    torch.set_num_threads(1)
    from remadom import distributed as D
    from remadom.data import read_data, load_example
    from remadom.data.registry import register
    from remadom.data.loader import BackedLoader, train_val_split
    from remadom.model import MosaicVAE
    from remadom.train import Trainer
    out, source = sys.argv[1], sys.argv[2]     # source: a manifest, or 'concat' (the bundled file in memory)
    data = load_example('neurips2021_bmmc_cite_starter') if source == 'concat' else read_data(source)
    reg = register(data, batch_key='batch', chunk_size=100)
    tr, va = train_val_split(reg, 0.15, seed=0)
    torch.distributions.Normal.rsample = lambda self, sample_shape=torch.Size(): self.loc   # deterministic: 1 and 2 ranks agree
    torch.manual_seed(0)
    model = MosaicVAE.from_registry(reg, n_latent=4, hidden=(32,), dropout=0.)
    t = Trainer(model, BackedLoader(reg, batch_size=64, seed=0, indices=tr, chunk_size=128),
                BackedLoader(reg, batch_size=128, shuffle=False, indices=va, chunk_size=128),
                epochs=3, lr=3e-3, kl_warmup_epochs=2, run_dir=f'{out}/run', progress_bar=False, seed=0)
    t.fit()
    kind = type(reg.matrices['rna']).__name__
    if D.is_main(): json.dump(dict(rows=t.history['rows'], world=D.world_size(), steps=t.step, kind=kind), open(f'{out}/res.json', 'w'))
''')


def _run(args, nproc, cwd):
    cmd = [sys.executable, *args] if nproc == 0 else [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={nproc}',
                                                      '--master_addr=127.0.0.1', f'--master_port={free_port()}', *args]
    p = subprocess.run(cmd, env={**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT)},
                       capture_output=True, text=True, timeout=300, cwd=cwd)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]


def test_two_processes_on_manifest_follow_one_on_concat(shards, tmp_path):
    (tmp_path/'t.py').write_text(SCRIPT)
    (tmp_path/'one').mkdir(); (tmp_path/'two').mkdir()
    _run([str(tmp_path/'t.py'), str(tmp_path/'one'), 'concat'], 0, tmp_path)
    _run([str(tmp_path/'t.py'), str(tmp_path/'two'), str(shards/'cite.yaml')], 2, tmp_path)
    one, two = (json.loads((tmp_path/k/'res.json').read_text()) for k in ('one', 'two'))
    assert (one['world'], two['world'], one['kind'], two['kind']) == (1, 2, 'csr_matrix', 'ShardStack')
    assert one['steps'] == two['steps'] > 0
    for key in ('train_loss', 'train_kl', 'val_loss'):
        a, b = [r[key] for r in two['rows']], [r[key] for r in one['rows']]
        assert max(abs(x - y) / max(abs(y), 1e-8) for x, y in zip(a, b)) < 1e-5, (key, a, b)
    assert one['rows'][-1]['train_loss'] < one['rows'][0]['train_loss']


def test_example_manifest_over_bundled_files():
    "configs/manifests/teaseq.yaml: the TEA-seq RNA + ADT file and the ADT-only query file as two studies, backed."
    m = read_data(ROOT/'configs'/'manifests'/'teaseq.yaml')
    assert (m.n_obs, m['rna'].n_obs, m['adt'].n_obs) == (1262 + 5048, 1262, 6310)
    assert type(m['adt'].X).__name__ == 'ShardStack' and m['adt'].X.isbacked and 'measured' not in m['adt'].varm  # same ADT panel
    r = register(m, batch_key='batch', dataset_key='study')
    assert set(r.covariates['dataset'].categories) == {'teaseq_train', 'teaseq_test'}
    assert int(r.masks['rna'].sum()) == 1262 and bool(r.masks['adt'].all())
