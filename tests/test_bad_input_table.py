"""Bad input through the API and the CLI, table-driven: each case asserts the error type and that the message names
the field (and, for the CLI, one line on stderr, a non-zero exit code and no traceback)."""
import io, json, os, socket, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest, scipy.sparse as sp, torch, yaml
import anndata as ad
from remadom.core import InputError, make_spec
from remadom.config import load_config
from remadom.data import register, read_data, example_path
from remadom.checkpoint import CheckpointError, RunDirLocked, save_checkpoint, load_checkpoint, run_lock
from remadom.train import Trainer
from remadom.api import Remadom
from remadom.cli import main

CFG = {'data': {'example': 'neurips2021_bmmc_cite_starter', 'batch_key': 'batch'},
       'model': {'n_latent': 4, 'hidden': [16]}, 'train': {'epochs': 1, 'batch_size': 256, 'kl_warmup_epochs': 0},
       'logging': {'progress_bar': False}}


@pytest.fixture(scope='module')
def ctx(tmp_path_factory, cite):
    "A 1-epoch model on the CITE-seq starter, its run directory, and a scratch folder."
    tmp = tmp_path_factory.mktemp('bad')
    cfg = json.loads(json.dumps(CFG)); cfg['logging']['run_dir'] = str(tmp/'run')
    m = Remadom(cite.copy(), cfg); m.fit()
    main(['embed', str(tmp/'run')])                       # the run's embeddings.npz, as `remadom train` leaves it
    (tmp/'cfg.yaml').write_text(yaml.safe_dump(cfg))
    src = example_path('neurips2021_bmmc_cite_starter').read_bytes()
    (tmp/'cut.h5mu').write_bytes(src[:len(src) // 3])
    (tmp/'afile').write_text('x')
    (tmp/'empty_dir').mkdir()
    (tmp/'damaged').mkdir(); (tmp/'damaged'/'checkpoint.last.pt').write_bytes(b'remadom-checkpoint v1.1 sha256=' + b'0' * 64 + b'\nxx')
    (tmp/'dup.yaml').write_text("train:\n  epochs: 2\n  epochs: 3\n")
    return dict(m=m, run=tmp/'run', tmp=tmp, cfg=cfg)


def _rna(n=30, p=20, seed=0):
    x = np.random.default_rng(seed).poisson(2, (n, p)).astype(np.float32)
    return ad.AnnData(sp.csr_matrix(x), obs=pd.DataFrame({'batch': ['a', 'b'] * (n // 2)}, index=[f'c{i}' for i in range(n)]),
                      var=pd.DataFrame(index=[f'g{j}' for j in range(p)]))

def _with(f):
    a = _rna(); f(a); return a

def _dupvars(a): a.var_names = ['g0'] + list(a.var_names[1:-1]) + ['g0']
def _mixed(a): a.obs['batch'] = pd.Series([1, '1'] * 15, index=a.obs_names, dtype=object)

def _conflict():
    r, p = _rna(), _rna(seed=1)
    p.obs['batch'] = ['b', 'a'] * 15
    return {'rna': r, 'adt': p}

def _evil(ctx):
    class Evil:
        def __reduce__(self): return (os.system, (f"touch {ctx['tmp']/'PWNED'}",))
    buf = io.BytesIO(); torch.save({'model': {}, 'x': Evil()}, buf)
    return save_checkpoint(buf.getvalue(), ctx['tmp']/'evil.pt')

def _newer(ctx):
    raw = (ctx['run']/'checkpoint.last.pt').read_bytes().replace(b' v1.2 ', b' v1.4 ', 1)
    (ctx['tmp']/'newer.pt').write_bytes(raw); return ctx['tmp']/'newer.pt'

class _M(torch.nn.Module):
    def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.ones(1))
    def elbo(self, b, kl_weight=1.): raise AssertionError('not reached')

def _locked_fit(ctx):
    d = ctx['tmp']/'locked_api'; d.mkdir(exist_ok=True)
    with run_lock(d): Trainer(_M(), [object()], run_dir=d, progress_bar=False).fit()

def _one_cell(cite):
    mini = {'rna': cite['rna'][:1].copy(), 'adt': cite['adt'][:1].copy()}
    return Remadom(mini, {'model': {'n_latent': 2, 'hidden': [8]}, 'train': {'early_stopping': {'enabled': False}, 'val_fraction': 0}}).fit(run_dir=None)

def _m(ctx): return ctx['m']

L = lambda **ov: (lambda ctx: load_config(CFG, ov))

API = [
    # config (through load_config, as Remadom(config=...) and `remadom train --config` do)
    ('config epochs 0', L(**{'train.epochs': 0}), InputError, r"train\.epochs=0 must be an integer >= 1 or 'auto'"),
    ('config epochs typo', L(**{'train.epohcs': 3}), InputError, r"train\.epohcs.*Did you mean 'train\.epochs'"),
    ('config lr negative', L(**{'optim.lr': -1}), InputError, r"optim\.lr=-1"),
    ('config scheduler typo', L(**{'optim.scheduler.name': 'cosin'}), InputError, r"optim\.scheduler\.name='cosin'.*Did you mean 'cosine'"),
    ('config norm', L(**{'model.norm': 'group'}), InputError, r"model\.norm='group'"),
    ('config option typo', L(**{'data.modalities': {'rna': {'options': {'dispersoin': 'gene'}}}}), InputError,
     r"data\.modalities\.rna\.options\.dispersoin is not an option.*Did you mean 'dispersion'"),
    ('config lowrank', L(**{'data.modalities': {'adt': {'options': {'lowrank': 4}}}}), InputError, r"options\.lowrank.*Did you mean 'low_rank'"),
    ('config decoder typo', L(**{'model.decoder': {'dispersoin': 'gene'}}), InputError, r"model\.decoder\.dispersoin is not a decoder option"),
    ('config decoder value', L(**{'model.decoder': {'dispersion': 'cell'}}), InputError, r"model\.decoder\.dispersion='cell'"),
    ('config example', L(**{'data.example': 'cite'}), InputError, r"data\.example='cite'"),
    ('config path suffix', L(**{'data.example': None, 'data.path': 'x.csv'}), InputError, r"data\.path='x\.csv'"),
    ('config threads 0', L(**{'train.threads': 0}), InputError, r"train\.threads=0"),
    ('config horizon', L(**{'train.epochs': 10, 'optim.scheduler': {'name': 'cosine', 'horizon': 5}}), InputError, r"optim\.scheduler\.horizon=5"),
    ('config device', L(**{'train.device': 'gpu'}), InputError, r"train\.device='gpu'"),
    ('config seed', L(seed=-1), InputError, r"seed=-1"),
    ('config name', L(name='a b'), InputError, r"name='a b'"),
    ('config val_fraction', L(**{'train.val_fraction': 1}), InputError, r"train\.val_fraction=1"),
    ('config hidden empty', L(**{'model.hidden': []}), InputError, r"model\.hidden=\[\]"),
    ('config batch_size text', L(**{'train.batch_size': 'big'}), InputError, r"train\.batch_size='big'"),
    ('config log_every 0', L(**{'logging.log_every_steps': 0}), InputError, r"logging\.log_every_steps=0"),
    ('config log_every_s negative', L(**{'logging.log_every_s': -1}), InputError, r"logging\.log_every_s=-1"),
    ('config duplicate yaml key', lambda ctx: load_config(ctx['tmp']/'dup.yaml'), InputError, r"key 'epochs' appears twice"),
    ('config missing file', lambda ctx: load_config(ctx['tmp']/'nope.yaml'), InputError, r"config file .*nope\.yaml.* does not exist"),
    # modality specs
    ('spec lowrank', lambda ctx: make_spec('rna', lowrank=4), InputError, r"modalities\.rna\.lowrank.*Did you mean 'low_rank'"),
    ('spec dispersoin', lambda ctx: make_spec('adt', dispersoin='gene'), InputError, r"modalities\.adt\.dispersoin.*Did you mean 'dispersion'"),
    ('spec dispersion on atac', lambda ctx: make_spec('atac', dispersion='gene'), InputError, r"modalities\.atac\.dispersion has no effect"),
    ('spec dispersion value', lambda ctx: make_spec('rna', dispersion='cell'), InputError, r"modalities\.rna\.dispersion='cell'"),
    ('spec low_rank 0', lambda ctx: make_spec('rna', low_rank=0), InputError, r"modalities\.rna\.low_rank=0"),
    ('spec kind', lambda ctx: make_spec('x', kind='dna'), InputError, r"modalities\.x\.kind='dna'"),
    # registration
    ('register duplicate var names', lambda ctx: register({'rna': _with(_dupvars)}), InputError, r"modality 'rna': var_names are not unique"),
    ('register counts beyond float32', lambda ctx: register({'rna': _with(lambda a: setattr(a, 'X', a.X * 1e9))}), InputError, r"modalities\.rna \(X\).*2\^24"),
    ('register all-zero modality', lambda ctx: register({'rna': _with(lambda a: setattr(a, 'X', a.X * 0))}), InputError, r"modalities\.rna \(X\) holds only zeros"),
    ('register int and str labels', lambda ctx: register({'rna': _with(_mixed)}, batch_key='batch'), InputError, r"batch_key='batch'.*1 \(int\) and '1' \(str\)"),
    ('register conflicting labels', lambda ctx: register(_conflict(), modalities={'rna': {}, 'adt': {}}, batch_key='batch'), InputError, r"batch_key='batch': modality 'adt'"),
    ('register negative counts', lambda ctx: register({'rna': _with(lambda a: setattr(a, 'X', a.X * -1))}), InputError, r"modalities\.rna \(X\) contains negative"),
    ('register missing layer', lambda ctx: register({'rna': _rna()}, modalities={'rna': {'layer': 'layers:counts'}}), InputError, r"modalities\.rna\.layer='layers:counts'"),
    ('register unknown features', lambda ctx: register({'rna': _rna()}, features={'rna': ['zz']}), InputError, r"features\.rna"),
    ('register unknown batch key', lambda ctx: register({'rna': _rna()}, batch_key='donor'), InputError, r"obs key 'donor' not found"),
    ('hvg on tiny wide data', lambda ctx: Remadom({'rna': _rna(4, 3000)}, {'data': {'n_top_genes': 50}}), InputError, r"n_top_genes=50"),
    ('read truncated h5mu', lambda ctx: read_data(ctx['tmp']/'cut.h5mu', field='data.path'), InputError, r"data\.path=.*cannot be read as \.h5mu"),
    # the trained model
    ('fit one cell', lambda ctx: _one_cell(ctx['m'].data), InputError, r"1 cell"),
    ('impute use empty', lambda ctx: _m(ctx).impute('adt', use=[]), InputError, r"impute: use=\[\] selects no modality"),
    ('get_latent use empty', lambda ctx: _m(ctx).get_latent(use=[], key=None), InputError, r"get_latent: use=\[\]"),
    ('get_latent use typo', lambda ctx: _m(ctx).get_latent(use=['rnaa'], key=None), InputError, r"use=\['rnaa'\].*Did you mean 'rna'"),
    ('get_latent use number', lambda ctx: _m(ctx).get_latent(use=3, key=None), InputError, r"get_latent: use=3"),
    ('impute negative cell', lambda ctx: _m(ctx).impute('adt', cells=[-1], n_samples=1), InputError, r"cells: positions must be in \[0, n_obs=600\)"),
    ('impute cell out of range', lambda ctx: _m(ctx).impute('adt', cells=[600], n_samples=1), InputError, r"cells: positions"),
    ('impute float cells', lambda ctx: _m(ctx).impute('adt', cells=[0.5], n_samples=1), InputError, r"cells: got floats"),
    ('impute unknown cell names', lambda ctx: _m(ctx).impute('adt', cells=['nope'], n_samples=1), InputError, r"cells: 1 names are not obs_names"),
    ('impute short mask', lambda ctx: _m(ctx).impute('adt', cells=np.ones(3, bool), n_samples=1), InputError, r"cells: a boolean mask"),
    ('impute library 0', lambda ctx: _m(ctx).impute('adt', library=0), InputError, r"impute: library=0"),
    ('impute library negative', lambda ctx: _m(ctx).impute('adt', library=-5.), InputError, r"impute: library=-5"),
    ('impute library nan', lambda ctx: _m(ctx).impute('adt', library=float('nan')), InputError, r"impute: library=nan"),
    ('impute library text', lambda ctx: _m(ctx).impute('adt', library='mean'), InputError, r"impute: library='mean'"),
    ('impute n_samples 0', lambda ctx: _m(ctx).impute('adt', n_samples=0), InputError, r"impute: n_samples=0"),
    ('impute unknown modality', lambda ctx: _m(ctx).impute('protein'), InputError, r"impute: modality 'protein'"),
    ('get_latent key type', lambda ctx: _m(ctx).get_latent(key=3), InputError, r"key=3"),
    ('get_latent user obsm', lambda ctx: (_m(ctx).data.obsm.__setitem__('mine', np.zeros((600, 2))), _m(ctx).get_latent(key='mine')),
     InputError, r"obsm\['mine'\] already exists and was not written by remadom"),
    ('load missing path', lambda ctx: Remadom.load(ctx['tmp']/'nowhere'), InputError, r"nowhere.* does not exist"),
    ('load empty folder', lambda ctx: Remadom.load(ctx['tmp']/'empty_dir'), InputError, r"holds no model\.pt, checkpoint\.best\.pt"),
    ('load malicious checkpoint', lambda ctx: Remadom.load(_evil(ctx)), CheckpointError, r"evil\.pt was refused"),
    ('load newer format', lambda ctx: load_checkpoint(_newer(ctx)), CheckpointError, r"newer\.pt has checkpoint format 1\.4"),
    ('save non-plain state', lambda ctx: save_checkpoint({'providers': {'knn': {'e': np.zeros(2)}}}, ctx['tmp']/'np.pt'), CheckpointError, r"providers\.knn\.e is a numpy\.ndarray"),
    ('train into a locked run dir', _locked_fit, RunDirLocked, r"run_dir .*locked_api.* is in use by another training"),
    ('trainer run dir is a file', lambda ctx: Trainer(_M(), [object()], run_dir=ctx['tmp']/'afile'), InputError, r"run_dir=.*afile.* is a file"),
    ('trainer horizon', lambda ctx: Trainer(_m(ctx).module, [1], epochs=5, scheduler={'name': 'cosine', 'horizon': 3}), InputError, r"scheduler\.horizon=3"),
]


@pytest.mark.parametrize('case', API, ids=[c[0] for c in API])
def test_api_bad_input(ctx, case):
    _, fn, exc, pattern = case
    with pytest.raises(exc, match=pattern):
        fn(ctx)
    assert not (ctx['tmp']/'PWNED').exists()


def _cfg_with(ctx, name, **ov):
    c = json.loads(json.dumps(ctx['cfg']))
    for k, v in ov.items():
        node = c
        *head, last = k.split('.')
        for h in head: node = node.setdefault(h, {})
        node[last] = v
    p = ctx['tmp']/f'{name}.yaml'; p.write_text(yaml.safe_dump(c)); return str(p)

def _locked_run(ctx):
    d = ctx['tmp']/'locked_cli'; d.mkdir(exist_ok=True)
    (d/'.remadom.lock').write_text(json.dumps({'pid': os.getpid(), 'host': socket.gethostname(), 'started': 0}))
    return ['train', '--config', str(ctx['tmp']/'cfg.yaml'), '--run-dir', str(d)]

def _evil_run(ctx):
    d = ctx['tmp']/'evil_run'; d.mkdir(exist_ok=True)
    (d/'checkpoint.best.pt').write_bytes(_evil(ctx).read_bytes())
    return ['embed', str(d)]

R = lambda ctx: str(ctx['run'])
CLI = [
    ('train missing config', lambda ctx: ['train', '--config', str(ctx['tmp']/'none.yaml')], 2, r"config file .*none\.yaml.* does not exist"),
    ('train --set epochs 0', lambda ctx: ['train', '--config', str(ctx['tmp']/'cfg.yaml'), '--set', 'train.epochs=0'], 2, r"train\.epochs=0"),
    ('train --set without =', lambda ctx: ['train', '--config', str(ctx['tmp']/'cfg.yaml'), '--set', 'train.epochs'], 2, r"--set 'train\.epochs': expected KEY=VALUE"),
    ('train --set bad yaml', lambda ctx: ['train', '--config', str(ctx['tmp']/'cfg.yaml'), '--set', 'model.hidden=[1'], 2, r"--set 'model\.hidden=\[1': the value is not valid YAML"),
    ('train --set unknown key', lambda ctx: ['train', '--config', str(ctx['tmp']/'cfg.yaml'), '--set', 'optim.lrr=1'], 2, r"optim\.lrr.*Did you mean 'optim\.lr'"),
    ('train duplicate yaml key', lambda ctx: ['train', '--config', str(ctx['tmp']/'dup.yaml')], 2, r"key 'epochs' appears twice"),
    ('train run dir is a file', lambda ctx: ['train', '--config', str(ctx['tmp']/'cfg.yaml'), '--run-dir', str(ctx['tmp']/'afile')], 2, r"logging\.run_dir=.*afile.* is a file"),
    ('train over an existing run', lambda ctx: ['train', '--config', str(ctx['tmp']/'cfg.yaml'), '--run-dir', R(ctx)], 2, r"already holds a run.*--resume.*--overwrite"),
    ('train --resume missing', lambda ctx: ['train', '--config', str(ctx['tmp']/'cfg.yaml'), '--run-dir', str(ctx['tmp']/'r2'), '--resume', str(ctx['tmp']/'gone')], 2, r"--resume .*gone.* does not exist"),
    ('train --resume damaged', lambda ctx: ['train', '--config', str(ctx['tmp']/'cfg.yaml'), '--run-dir', str(ctx['tmp']/'r3'), '--resume', str(ctx['tmp']/'damaged')], 1, r"checkpoint\.last\.pt is truncated or corrupted"),
    ('train locked run dir', _locked_run, 1, r"is in use by another training \(pid"),
    ('train data.path truncated', lambda ctx: ['train', '--config', _cfg_with(ctx, 'cut', **{'data.example': None, 'data.path': str(ctx['tmp']/'cut.h5mu')}), '--run-dir', str(ctx['tmp']/'r4')], 2, r"data\.path=.*cannot be read as \.h5mu"),
    ('train unknown option', lambda ctx: ['train', '--config', _cfg_with(ctx, 'opt', **{'data.modalities': {'rna': {'options': {'lowrank': 3}}, 'adt': {}}})], 2, r"data\.modalities\.rna\.options\.lowrank"),
    ('embed run dir missing', lambda ctx: ['embed', str(ctx['tmp']/'nope')], 2, r"run_dir=.*nope.* does not exist"),
    ('embed run dir is a file', lambda ctx: ['embed', str(ctx['tmp']/'afile')], 2, r"run_dir=.*afile.* is a file"),
    ('embed output exists', lambda ctx: ['embed', R(ctx)], 2, r"embeddings\.npz already exists; pass --overwrite"),
    ('embed --out missing folder', lambda ctx: ['embed', R(ctx), '--out', str(ctx['tmp']/'no'/'z.npz')], 2, r"output folder: folder .*no"),
    ('embed --data truncated', lambda ctx: ['embed', R(ctx), '--out', str(ctx['tmp']/'z1.npz'), '--data', str(ctx['tmp']/'cut.h5mu')], 2, r"--data=.*cannot be read"),
    ('embed --data suffix', lambda ctx: ['embed', R(ctx), '--out', str(ctx['tmp']/'z2.npz'), '--data', str(ctx['tmp']/'afile')], 2, r"--data=.*expected an \.h5mu or \.h5ad"),
    ('embed damaged checkpoint', lambda ctx: ['embed', str(ctx['tmp']/'damaged')], 1, r"truncated or corrupted"),
    ('embed malicious checkpoint', _evil_run, 1, r"was refused: it holds Python objects"),
    ('impute unknown target', lambda ctx: ['impute', R(ctx), '--target', 'protein', '--out', str(ctx['tmp']/'i1.npz')], 2, r"modality 'protein'"),
    ('impute unknown use', lambda ctx: ['impute', R(ctx), '--target', 'adt', '--use', 'rnaa', '--out', str(ctx['tmp']/'i2.npz')], 2, r"use=\['rnaa'\]"),
    ('impute n-samples 0', lambda ctx: ['impute', R(ctx), '--target', 'adt', '--n-samples', '0', '--out', str(ctx['tmp']/'i3.npz')], 2, r"n_samples=0"),
    ('evaluate unknown label key', lambda ctx: ['evaluate', R(ctx), '--label-key', 'celltype'], 2, r"label key 'celltype'"),
    ('quickstart epochs 0', lambda ctx: ['quickstart', '--run-dir', str(ctx['tmp']/'q'), '--epochs', '0'], 2, r"train\.epochs=0"),
    ('mock out folder missing', lambda ctx: ['mock', '--out', str(ctx['tmp']/'no'/'m.h5mu'), '--n-cells', '50'], 2, r"output folder: folder"),
    ('mock out suffix', lambda ctx: ['mock', '--out', str(ctx['tmp']/'m.csv'), '--n-cells', '50'], 2, r"--out .*m\.csv.* must end in \.h5mu"),
]


@pytest.mark.parametrize('case', CLI, ids=[c[0] for c in CLI])
def test_cli_bad_input(ctx, case, capsys):
    _, argv, code, pattern = case
    with pytest.raises(SystemExit) as e:
        main(argv(ctx))
    err = capsys.readouterr().err
    assert e.value.code == code, err
    assert 'Traceback' not in err and err.count('\n') == 1, err
    assert err.startswith(f"remadom {argv(ctx)[0]}: error: ")
    import re
    assert re.search(pattern, err), err
    assert not (ctx['tmp']/'PWNED').exists()


def test_cli_full_disk_is_one_line(ctx, capsys, monkeypatch):
    "ENOSPC while writing an output: one line, exit 1, and no partial file left."
    def full(*a, **k): raise OSError(28, 'No space left on device')
    monkeypatch.setattr(np, 'savez_compressed', full)
    with pytest.raises(SystemExit) as e: main(['embed', R(ctx), '--out', str(ctx['tmp']/'full.npz')])
    err = capsys.readouterr().err
    assert e.value.code == 1 and 'no space left on device' in err and err.count('\n') == 1
    assert not (ctx['tmp']/'full.npz').exists() and not list(ctx['tmp'].glob('.full.npz.*'))


def test_cli_dev_full_is_one_line(ctx, capsys, monkeypatch):
    "The same through a real device that is always full: /dev/full."
    if not Path('/dev/full').exists(): pytest.skip('no /dev/full')
    import remadom.checkpoint as ck
    real = ck.atomic_write
    def to_dev_full(path, write, what='output folder'):
        with open('/dev/full', 'wb') as f: write(f); f.flush()
    monkeypatch.setattr('remadom.cli.atomic_write', to_dev_full)
    with pytest.raises(SystemExit) as e: main(['embed', R(ctx), '--out', str(ctx['tmp']/'devfull.npz')])
    err = capsys.readouterr().err
    assert e.value.code == 1 and 'no space left on device' in err and err.count('\n') == 1, err


def test_case_count():
    "The closing note of issue 12 asks for at least 60 cases."
    assert len(API) + len(CLI) + 2 >= 60
