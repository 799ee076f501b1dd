"""Two gloo processes under torchrun train like one process with the same global batch; rank 0 writes the checkpoints
and both ranks resume from them bit for bit; `remadom train --config` works unchanged under torchrun.

What differs between 1 and 2 processes, and why the tolerances are what they are:
- the reparameterisation noise and dropout masks are drawn per rank (rank r > 0 has its own stream), so a stochastic
  run on 2 ranks is a different sample path from 1 process. The parity check therefore makes the model deterministic
  (posterior mean instead of a sample, dropout 0); everything else (sharding, loss weighting, DDP averaging, the
  gathered MMD head, the merged epoch means) is the real code path;
- a batch's gradient is summed in another order (two half-batch sums, then the gloo allreduce, then /2), so the runs
  agree to float32 rounding, which grows slowly through Adam. Measured (4 epochs, 16 steps, 2026-12-01): epoch
  losses, KL, validation loss and the MMD head agree to < 5e-7 relative, the weights to 1.2e-7 absolute; the test
  allows 1e-5 for both (a sum instead of a mean of the gradients, a wrong shard, or a head that saw half the batch
  move them by > 1e-2; without DDP's averaging the ranks' weights part by 0.02 to 0.06 and the test fails).
"""
import json, os, subprocess, sys, textwrap
from pathlib import Path
import pytest, torch
from remadom.distributed import free_port
from remadom.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent('''
    import json, sys, torch
    torch.set_num_threads(1)
    from remadom import distributed as D
    from remadom.data import mock
    from remadom.data.registry import register
    from remadom.data.loader import TensorLoader, train_val_split
    from remadom.model import MosaicVAE
    from remadom.heads import MMDHead
    from remadom.train import Trainer

    out, runs = sys.argv[1], sys.argv[2:]        # runs: NAME:det|sto:EPOCHS[:resume]
    ad = mock.simulate('mosaic', n_cells=300, modalities={'rna': 40, 'adt': 8}, seed=0)
    reg = register(ad, batch_key='batch')
    tr, va = train_val_split(reg, 0.15, seed=0)
    res, rsample = {}, torch.distributions.Normal.rsample
    for spec in runs:
        name, mode, epochs, *resume = spec.split(':')
        torch.distributions.Normal.rsample = rsample
        if mode == 'det':   # no sampling noise: the same numbers on 1 and 2 processes
            torch.distributions.Normal.rsample = lambda self, sample_shape=torch.Size(): self.loc
        torch.manual_seed(0)
        model = MosaicVAE.from_registry(reg, n_latent=4, hidden=(32,), dropout=0. if mode == 'det' else 0.1)
        heads = {'mmd': (MMDHead.from_registry(reg, group_by='batch', min_cells=4), 0.5)}
        t = Trainer(model, TensorLoader(reg, batch_size=64, seed=0, indices=tr),
                    TensorLoader(reg, batch_size=128, shuffle=False, indices=va), heads=heads,
                    epochs=int(epochs), lr=3e-3, kl_warmup_epochs=2, run_dir=f'{out}/{name}', progress_bar=False, seed=0)
        t.fit(resume_from=f'{out}/{resume[0]}/checkpoint.last.pt' if resume else None)
        flat = torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.is_floating_point()])
        spread = float((torch.stack(D.gather_objects(flat)) - flat).abs().max())   # 0 when the ranks hold the same weights
        res[name] = dict(rows=t.history['rows'], world=D.world_size(), spread=spread, n_steps=t.step)
        if D.is_main(): torch.save(model.state_dict(), f'{out}/{name}.pt')
    if D.is_main(): json.dump(res, open(f'{out}/{"_".join(r.split(":")[0] for r in runs)}.json', 'w'))
''')


def _env():
    return {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT)}


def _start(args, nproc=2):
    "A `torchrun --nproc_per_node=nproc args` (nproc=0: plain python) process, started now."
    cmd = [sys.executable, *args] if nproc == 0 else [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={nproc}',
                                                      '--master_addr=127.0.0.1', f'--master_port={free_port()}', *args]
    return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _wait(p, timeout=180):
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, out[-2000:] + err[-4000:]
    return out


CONFIG = """
data:
  example: neurips2021_bmmc_cite_starter
  batch_key: batch
  modalities:
    rna: {kind: rna, likelihood: nb}
    adt: {kind: adt, likelihood: nb}
model: {n_latent: 4, hidden: [32]}
train: {epochs: 2, batch_size: 128, kl_warmup_epochs: 1}
logging: {progress_bar: false}
"""


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "The three launches, side by side: one process, two processes (4 runs), and the CLI on two processes."
    d = tmp_path_factory.mktemp('ddp')
    (d/'ddp_train.py').write_text(SCRIPT); (d/'run.yaml').write_text(CONFIG)
    one = _start([str(d/'ddp_train.py'), str(d), 'one:det:4'], nproc=0)
    # 'full' runs between 'half' and 'resumed', so the RNG states at the resume differ from the checkpoint's
    two = _start([str(d/'ddp_train.py'), str(d), 'two:det:4', 'half:sto:2', 'full:sto:4', 'resumed:sto:4:half'])
    cli = _start(['-m', 'remadom.cli', 'train', '--config', str(d/'run.yaml'), '--run-dir', str(d/'cli')])
    _wait(one); _wait(two); cli_out = _wait(cli)
    res = {'cli_stdout': cli_out}
    for f in ('one', 'two_half_full_resumed'): res.update(json.loads((d/f'{f}.json').read_text()))
    return d, res


def _close(a, b):
    return max(abs(x - y) / max(abs(y), 1e-8) for x, y in zip(a, b))


def test_two_processes_follow_one(runs):
    d, r = runs
    one, two = r['one'], r['two']
    assert (one['world'], two['world']) == (1, 2)
    assert one['n_steps'] == two['n_steps'] == 4 * 4      # 255 train cells: 4 global batches of <= 64 an epoch
    assert two['spread'] == 0.                             # DDP keeps the ranks' weights identical
    for key in ('train_loss', 'train_kl', 'val_loss', 'train_head_mmd'):
        a, b = [row[key] for row in two['rows']], [row[key] for row in one['rows']]
        assert _close(a, b) < 1e-5, (key, a, b)
    w1, w2 = torch.load(d/'one.pt'), torch.load(d/'two.pt')
    diff = max(float((w1[k] - w2[k]).abs().max()) for k in w1 if w1[k].is_floating_point())
    assert diff < 1e-5, diff
    assert one['rows'][-1]['train_loss'] < one['rows'][0]['train_loss']   # it trains


def test_rank0_writes_both_resume(runs):
    d, r = runs
    half = d/'half'
    assert sorted(p.name for p in half.iterdir() if p.name.startswith('checkpoint')) == ['checkpoint.best.pt', 'checkpoint.last.pt']
    assert not list(half.glob('.*.tmp')) and not (half/'.remadom.lock').exists()
    ck = load_checkpoint(half/'checkpoint.last.pt')
    assert ck['epoch'] == 2 and len(ck['rng_ranks']) == 2
    assert not torch.equal(ck['rng_ranks'][0]['torch'], ck['rng_ranks'][1]['torch'])   # each rank its own noise
    assert r['resumed']['spread'] == 0.
    assert [row['train_loss'] for row in r['resumed']['rows']] == [row['train_loss'] for row in r['full']['rows']]
    a, b = torch.load(d/'full.pt'), torch.load(d/'resumed.pt')
    assert all(torch.equal(a[k], b[k]) for k in a)         # stop at 2 + resume to 4 == 4 uninterrupted, bit for bit
    assert len((d/'resumed'/'train_log.csv').read_text().strip().splitlines()) == 1 + 4


def test_cli_train_under_torchrun(runs):
    d, r = runs
    assert r['cli_stdout'].count('trained in') == 1, r['cli_stdout']   # rank 0 reports and writes the embedding
    run = d/'cli'
    assert (run/'checkpoint.last.pt').is_file() and (run/'embeddings.npz').is_file() and not (run/'.remadom.lock').exists()
    assert len((run/'train_log.csv').read_text().strip().splitlines()) == 1 + 2
    assert len(load_checkpoint(run/'checkpoint.last.pt')['rng_ranks']) == 2
