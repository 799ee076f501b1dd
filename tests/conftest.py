import pytest, mudata as md

md.set_options(pull_on_update=False)

@pytest.fixture(scope='session')
def cite():
    "The bundled real CITE-seq starter (600 cells, rna + adt, 2 batches)."
    from remadom.data import load_example
    return load_example('neurips2021_bmmc_cite_starter')

@pytest.fixture
def rna(cite):
    "A fresh copy of 100 RNA cells of the CITE-seq starter, with obs."
    a = cite['rna'][:100].copy()
    a.obs = cite.obs.loc[a.obs_names, ['batch', 'cell_type']].copy()
    return a
