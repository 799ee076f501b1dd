"HVG selection on backed and lazy matrices (a manifest's ShardStack, a backed .h5mu) equals scanpy's on the in-memory data."
import warnings
import numpy as np, pytest
warnings.filterwarnings('ignore', category=FutureWarning)
from remadom.data import load_example, write_manifest, open_manifest
from remadom.data.shardstack import ShardStack
from remadom.data.preprocess import hvg_chunked
from remadom.config import load_config
from remadom.api import _hvg, _modalities, Remadom

CFG = {'data': {'batch_key': 'batch', 'n_top_genes': 300}, 'model': {'n_latent': 4, 'hidden': [16]}}

@pytest.fixture(scope='module')
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp('hvg_manifest'); m = load_example('neurips2021_bmmc_cite_starter')
    for i, ix in enumerate(np.array_split(np.arange(m.n_obs), 3)): m[ix].copy().write(d/f'shard{i}.h5mu')
    return m, write_manifest(d/'data.yaml', [dict(path=f'shard{i}.h5mu', study='all') for i in range(3)], backed=True)

def test_manifest_shardstack_chunked_equals_scanpy(shards):
    import scanpy as sc
    m, man = shards
    lazy = open_manifest(man)
    st = lazy['rna'].X
    assert isinstance(st, ShardStack) and st.isbacked
    bt = lazy.obs['batch'].reindex(lazy['rna'].obs_names).to_numpy()
    mem = m['rna'].copy(); mem.obs['batch'] = m.obs['batch'].reindex(mem.obs_names).to_numpy()
    ref = sc.pp.highly_variable_genes(mem, flavor='seurat_v3', n_top_genes=300, batch_key='batch', inplace=False)
    st.reads.clear()
    got = hvg_chunked(st, 300, batch=bt, chunk_size=70)
    assert (got['highly_variable'].to_numpy() == ref['highly_variable'].to_numpy()).all()
    assert max(hi - lo for _, lo, hi in st.reads) <= 70                 # no read over one chunk, per shard
    assert sum(hi - lo for _, lo, hi in st.reads) == 2 * m.n_obs        # two passes, every row once each

def test_hvg_on_manifest_and_backed_file_match_memory(shards):
    m, man = shards
    cfg = load_config(CFG)
    want = _hvg(cfg, m, _modalities(cfg, m))['rna']
    lazy = open_manifest(man)
    assert _hvg(cfg, lazy, _modalities(cfg, lazy))['rna'] == want
    mb = load_example('neurips2021_bmmc_cite_starter', backed=True)
    r = Remadom(mb, CFG).registry
    assert set(r.var_names['rna']) == set(want)
    assert r.specs['rna'].n_features == 300
