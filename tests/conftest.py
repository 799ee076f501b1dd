import os
# Bit-for-bit checks across processes (save/load, CLI train then embed, resume): on AVX-512 CPUs Intel MKL picks
# kernels by memory alignment unless conditional numerical reproducibility is strict. It must be set before torch
# loads MKL; subprocesses inherit it.
os.environ.setdefault('MKL_CBWR', 'AUTO,STRICT')
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
