"A training process killed with SIGKILL resumes from checkpoint.last.pt and ends where an uninterrupted run ends."
import os, runpy, signal, subprocess, sys, textwrap, time
import pytest, torch
from remadom.train import CheckpointError, Trainer, load_checkpoint, save_checkpoint

EPOCHS = 12

SCRIPT = textwrap.dedent('''
    import math, sys, time, torch
    from remadom.core import ModalityBatch, LossOutput
    from remadom.train import Trainer

    class Loader:
        "Batches reshuffled from (seed, epoch); `pause` seconds per batch make the run slow enough to kill."
        def __init__(self, X, bs=32, seed=0, pause=0.): self.X, self.bs, self.seed, self.pause, self.epoch = X, bs, seed, pause, 0
        def set_epoch(self, e): self.epoch = e
        def __len__(self): return math.ceil(len(self.X) / self.bs)
        def __iter__(self):
            idx = torch.randperm(len(self.X), generator=torch.Generator().manual_seed(self.seed * 1000 + self.epoch))
            for i in range(0, len(idx), self.bs):
                time.sleep(self.pause)
                j = idx[i:i + self.bs]; x = self.X[j]
                yield ModalityBatch({'x': x}, {'x': torch.ones(len(j), dtype=torch.bool)}, {'x': x.sum(1)}, index=j)

    class VAE(torch.nn.Module):
        def __init__(self, p=16, d=2, h=16):
            super().__init__()
            self.enc = torch.nn.Sequential(torch.nn.Linear(p, h), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(h, 2 * d))
            self.dec = torch.nn.Linear(d, p)
        def elbo(self, batch, kl_weight=1.):
            x, lib = batch.x['x'], batch.library['x']
            mu, logvar = self.enc(torch.log1p(x)).chunk(2, -1)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            recon = -torch.distributions.Poisson(lib[:, None] * torch.softmax(self.dec(z), -1) + 1e-8).log_prob(x).sum(-1).mean()
            kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1).mean()
            return LossOutput(recon + kl_weight * kl, {'x': recon}, kl, n_obs=len(x), extra={'z': z})

    torch.set_num_threads(1)
    run_dir, epochs, pause, resume = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
    g = torch.Generator().manual_seed(0)
    X = torch.poisson(torch.softmax(torch.randn(2, 16, generator=g), -1)[torch.arange(128) % 2] * 100, generator=g)
    torch.manual_seed(0)
    tr = Trainer(VAE(), Loader(X, pause=pause), epochs=epochs, checkpoint_every=1, run_dir=run_dir, progress_bar=False,
                 kl_warmup_epochs=3, scheduler=dict(name='cosine', min_lr=1e-4), lr=5e-3, seed=0)
    tr.fit(resume_from=resume[0] if resume else None)
    print('finished', tr.epoch)
''')


def _train(tmp_path, run_dir, pause=0., resume=None, wait=True):
    script = tmp_path/'toy_train.py'
    if not script.exists(): script.write_text(SCRIPT)
    cmd = [sys.executable, str(script), str(run_dir), str(EPOCHS), str(pause)] + ([str(resume)] if resume else [])
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if not wait: return p
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err[-2000:]
    return out


def test_sigkill_then_resume(tmp_path, monkeypatch):
    killed, clean = tmp_path/'killed', tmp_path/'clean'
    p = _train(tmp_path, killed, pause=0.05, wait=False)  # 0.2 s per epoch: 2.4 s after start-up
    last, t0 = killed/'checkpoint.last.pt', time.time()
    while not last.exists():
        assert p.poll() is None, p.communicate()[1][-2000:]
        assert time.time() - t0 < 90, "no checkpoint was written"
        time.sleep(0.02)
    time.sleep(0.15)  # land anywhere in the next epoch, possibly inside a checkpoint write
    assert p.poll() is None, "the run finished before it could be killed"
    p.send_signal(signal.SIGKILL); p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL
    e0 = load_checkpoint(last)["epoch"]  # the atomic write left an intact file
    assert 1 <= e0 < EPOCHS

    assert f'finished {EPOCHS}' in _train(tmp_path, killed, resume=last)
    ck = load_checkpoint(last)
    assert ck['epoch'] == EPOCHS and ck['global_step'] == 4 * EPOCHS and ck['partial'] is False
    assert all(torch.isfinite(v).all() for v in ck['model'].values())
    assert [r['epoch'] for r in ck['history']['rows']] == list(range(1, EPOCHS + 1))
    assert not list(killed.glob('.checkpoint.*.tmp'))

    monkeypatch.setattr(sys, 'argv', ['toy_train.py', str(clean), str(EPOCHS), '0'])
    runpy.run_path(str(tmp_path/'toy_train.py'), run_name='__main__')  # uninterrupted, in this process (saves a start-up)
    ref = load_checkpoint(clean/'checkpoint.last.pt')['model']
    for k, v in ref.items(): assert torch.equal(v, ck['model'][k]), k


@pytest.mark.parametrize('damage', ['truncate', 'flip', 'empty'])
def test_damaged_checkpoint_is_refused(tmp_path, damage):
    p = tmp_path/'checkpoint.last.pt'
    save_checkpoint({'model': {'w': torch.randn(100, 100)}, 'epoch': 3}, p)
    assert load_checkpoint(p)['epoch'] == 3
    raw = p.read_bytes()
    p.write_bytes({'truncate': raw[:len(raw) - 1000], 'flip': raw[:-10] + bytes([raw[-10] ^ 0xFF]) + raw[-9:], 'empty': b''}[damage])
    with pytest.raises(CheckpointError, match=r"checkpoint\.last\.pt .*(truncated or corrupted|header is damaged).*checkpoint\.best\.pt"):
        load_checkpoint(p)


def test_resume_refuses_truncated_checkpoint(tmp_path):
    class M(torch.nn.Module):
        def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.ones(1))
        def elbo(self, batch, kl_weight=1.): raise AssertionError('not reached')
    save_checkpoint({'model': {}}, tmp_path/'ck.pt')
    (tmp_path/'ck.pt').write_bytes((tmp_path/'ck.pt').read_bytes()[:-3])
    with pytest.raises(CheckpointError, match='ck.pt is truncated or corrupted'):
        Trainer(M(), [object()], progress_bar=False).fit(resume_from=tmp_path/'ck.pt')


# --- in-process toy: exact resume under every schedule, old formats, hostile files, run-directory lock -----------------
import importlib.util, io, json, math, socket, warnings
from pathlib import Path
from remadom.checkpoint import RunDirLocked, run_lock, FORMAT
from remadom.core import InputError

_NS = {}
exec(SCRIPT.split("torch.set_num_threads(1)")[0], _NS)   # the toy Loader and VAE of the subprocess script
FIXTURE = Path(__file__).parent/'fixtures'/'checkpoint_format_1.0.pt'


def _toy_X():
    g = torch.Generator().manual_seed(0)
    return torch.poisson(torch.softmax(torch.randn(2, 16, generator=g), -1)[torch.arange(128) % 2] * 100, generator=g)


def _toy(epochs, sched, run_dir=None, resume=None, **kw):
    torch.manual_seed(0)
    tr = Trainer(_NS['VAE'](), _NS['Loader'](_toy_X()), epochs=epochs, run_dir=run_dir, progress_bar=False,
                 kl_warmup_epochs=3, scheduler=sched, lr=5e-3, seed=0, restore_best=False, **kw)
    tr.fit(resume_from=resume)
    return tr


def _same(a, b):
    for (k, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()): assert torch.equal(x, y), k


SCHEDULES = {
    'none': ({'name': 'none'}, None),
    'cosine': ({'name': 'cosine', 'min_lr': 1e-4}, 'horizon'),
    'step': ({'name': 'step', 'step_size': 2, 'gamma': 0.5}, None),
    'plateau': ({'name': 'plateau', 'patience': 1, 'gamma': 0.5}, None),
    'warm-up': ({'name': 'none', 'warmup_epochs': 2}, None),
    'warm-up+cosine': ({'name': 'cosine', 'warmup_epochs': 2, 'min_lr': 1e-4}, 'horizon'),
}


@pytest.mark.parametrize('name', list(SCHEDULES))
def test_train_n_then_resume_to_m_equals_train_m(tmp_path, name):
    "3 epochs, then resumed to 6, give the weights and learning rates of a straight 6-epoch run, bit for bit (1 thread)."
    torch.set_num_threads(1)
    sched, extra = SCHEDULES[name]
    first = {**sched, 'horizon': 6} if extra else sched
    straight = _toy(6, sched)
    _toy(3, first, run_dir=tmp_path)
    cont = _toy(6, first, resume=tmp_path/'checkpoint.last.pt')
    assert cont.epoch == 6 and len(cont.history['rows']) == 6
    assert [r['lr'] for r in cont.history['rows']] == [r['lr'] for r in straight.history['rows']]
    _same(straight, cont)


def test_cosine_resume_to_another_length_is_refused_with_the_fix(tmp_path):
    _toy(3, {'name': 'cosine'}, run_dir=tmp_path)
    with pytest.raises(InputError, match=r"T_max=3 but this run's has T_max=6.*train\.epochs=3.*horizon"):
        _toy(6, {'name': 'cosine'}, resume=tmp_path/'checkpoint.last.pt')


def test_older_minor_format_loads_and_resumes(tmp_path):
    "The stored format-1.0 file (numpy RNG state pickled, header 'v1') loads with weights_only and resumes (to float32 rounding)."
    assert FIXTURE.read_bytes().startswith(b'remadom-checkpoint v1 sha256=')
    ck = load_checkpoint(FIXTURE)
    assert ck['format'] == '%d.%d' % FORMAT and ck['epoch'] == 2 and isinstance(ck['rng']['numpy']['keys'], torch.Tensor)
    sched = {'name': 'cosine', 'min_lr': 1e-4}
    straight = _toy(4, sched)
    (tmp_path/'run').mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        cont = _toy(4, sched, resume=FIXTURE, run_dir=tmp_path/'run')
    # its first 2 epochs ran on the CPU that wrote the fixture, whose kernels may round differently (~1 ulp); bit-for-bit
    # resume on one machine is test_train_n_then_resume_to_m_equals_train_m's
    for (k, x), y in zip(straight.model.state_dict().items(), cont.model.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5, msg=k)


def test_newer_format_is_refused_naming_the_version(tmp_path):
    raw = FIXTURE.read_bytes().replace(b'remadom-checkpoint v1 ', b'remadom-checkpoint v1.9 ', 1)
    (tmp_path/'new.pt').write_bytes(raw)
    with pytest.raises(CheckpointError, match=r"format 1\.9, newer than format 1\.2.*upgrade remadom"):
        load_checkpoint(tmp_path/'new.pt')


class _Evil:
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize('how', ['load', 'resume'])
def test_malicious_checkpoint_with_a_valid_header_runs_nothing(tmp_path, how):
    marker = tmp_path/'PWNED'
    buf = io.BytesIO(); torch.save({'model': {}, 'epoch': 1, 'rng': _Evil(marker)}, buf)
    ck = tmp_path/'checkpoint.last.pt'
    save_checkpoint(buf.getvalue(), ck)                     # a valid SHA-256 header over the hostile bytes
    assert ck.read_bytes().startswith(b'remadom-checkpoint v1.2 sha256=')
    with pytest.raises(CheckpointError, match=r"was refused: it holds Python objects other than tensors.*never runs code"):
        if how == 'load': load_checkpoint(ck)
        else: _toy(2, None, resume=ck)
    assert not marker.exists()


def test_a_second_training_into_a_run_dir_is_refused_and_a_stale_lock_replaced(tmp_path):
    with run_lock(tmp_path):
        with pytest.raises(RunDirLocked, match=rf"in use by another training \(pid {os.getpid()}"):
            _toy(1, None, run_dir=tmp_path)
    dead = subprocess.Popen([sys.executable, '-c', 'pass']); dead.wait()
    (tmp_path/'.remadom.lock').write_text(json.dumps({'pid': dead.pid, 'host': socket.gethostname(), 'started': 0}))
    with pytest.warns(UserWarning, match='stale lock'):
        assert _toy(1, None, run_dir=tmp_path).epoch == 1
    assert not (tmp_path/'.remadom.lock').exists()


def _fixture_module():
    spec = importlib.util.spec_from_file_location('make_checkpoint_fixture', Path(__file__).parent/'fixtures'/'make_checkpoint_fixture.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def test_format_1_1_checkpoint_of_a_mosaic_model_resumes(tmp_path):
    "A format-1.1 run (encoder first layers and their AdamW moments stored (n_out, n_in)) resumes to the uninterrupted run."
    import mudata as md
    from remadom.api import Remadom
    fx = _fixture_module()
    assert fx.OUT.read_bytes().startswith(b'remadom-checkpoint v1.1 sha256=')
    md.set_options(pull_on_update=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        straight = Remadom(md.read_h5mu(fx.CELLS), fx.config(tmp_path/'a')); straight.fit()
        cont = Remadom(md.read_h5mu(fx.CELLS), fx.config(tmp_path/'b')); cont.fit(resume_from=fx.OUT)
    assert cont.history['rows'][-1]['epoch'] == 4 and len(cont.history['rows']) == 4
    a, b = straight.module.state_dict(), cont.module.state_dict()
    assert list(a) == list(b) and 'encoders.rna.body.linears.0.weight' in a
    for k in a: torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)   # the fixture's 2 epochs may have run on another CPU, whose kernels round differently
    ck = load_checkpoint(tmp_path/'b'/'checkpoint.last.pt')      # written as 1.2: every moment has its parameter's shape
    params = [p for p in cont.module.parameters() if p.requires_grad]
    assert ck['read_format'] == '1.2' and len(ck['optimizer']['state']) == len(params)
    for i, p in enumerate(params): assert ck['optimizer']['state'][i]['exp_avg'].shape == p.shape, i
