"The user-facing class and the command line on real data: save/load in a fresh process, exact resume, kill and resume."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest, yaml
from remadom.api import Remadom
from remadom.train import load_checkpoint

REMADOM = str(Path(sys.executable).parent/'remadom')   # the console script installed with the package
CFG = {'data': {'example': 'neurips2021_bmmc_cite_starter', 'batch_key': 'batch'},
       'model': {'n_latent': 8, 'hidden': [64]},
       'train': {'epochs': 4, 'batch_size': 128, 'kl_warmup_epochs': 2},
       'logging': {'progress_bar': False}}

def _cfg(run_dir, **ov):
    c = json.loads(json.dumps(CFG)); c['logging']['run_dir'] = str(run_dir)
    for k, v in ov.items():
        sec, key = k.split('.'); c.setdefault(sec, {})[key] = v
    return c


def test_save_load_in_a_fresh_process(tmp_path):
    m = Remadom(None, _cfg(tmp_path/'run'))
    m.fit()
    z = m.get_latent(key=None)
    m.save(tmp_path/'model')
    np.save(tmp_path/'z.npy', z)
    code = ("import numpy as np; from remadom.api import Remadom; "
            f"m = Remadom.load({str(tmp_path/'model')!r}); "
            f"np.save({str(tmp_path/'z2.npy')!r}, m.get_latent(key=None))")
    subprocess.run([sys.executable, '-c', code], check=True, cwd=tmp_path)
    z2 = np.load(tmp_path/'z2.npy')
    assert z2.shape == z.shape == (600, 8)
    np.testing.assert_array_equal(z2, z)


def test_resume_is_bit_exact_with_the_real_model(tmp_path):
    "train 4 epochs == train 2 (stopped by max_steps), then resume from checkpoint.last.pt for 2 more."
    full = Remadom(None, _cfg(tmp_path/'full')); full.fit()
    first = Remadom(None, _cfg(tmp_path/'part', **{'train.max_steps': 10})); h = first.fit()   # 5 steps per epoch
    assert len(h['rows']) == 2
    rest = Remadom(None, _cfg(tmp_path/'rest')); rest.fit(resume_from=tmp_path/'part'/'checkpoint.last.pt')
    assert len(rest.history['rows']) == 4
    for (k, a), b in zip(full.module.state_dict().items(), rest.module.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy()), k
    np.testing.assert_array_equal(full.get_latent(key=None), rest.get_latent(key=None))
    best = load_checkpoint(tmp_path/'full'/'checkpoint.best.pt')      # fit() ends with the weights of checkpoint.best.pt
    assert full.checkpoint['epoch'] == best['epoch'] == full.history['best_epoch']
    for k, v in full.module.state_dict().items(): assert np.array_equal(v.numpy(), best['model'][k].numpy()), k


def test_sigkill_mid_training_then_resume(tmp_path):
    cfg = _cfg(tmp_path/'run', **{'train.epochs': 60, 'train.checkpoint_every': 1})   # by epoch: the default (every 60 s and at the end) would leave nothing to kill mid-run
    (tmp_path/'cfg.yaml').write_text(yaml.safe_dump(cfg))
    exe = [REMADOM, 'train', '--config', str(tmp_path/'cfg.yaml')]
    p = subprocess.Popen(exe, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = tmp_path/'run'/'checkpoint.last.pt'
    t0 = time.time()
    while not ck.exists() and time.time() - t0 < 120 and p.poll() is None: time.sleep(0.05)
    assert ck.exists() and p.poll() is None, 'training ended before a checkpoint could be interrupted'
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL); p.wait()
    killed_at = load_checkpoint(ck)['epoch']
    assert 1 <= killed_at < 60
    subprocess.run(exe + ['--resume', str(tmp_path/'run')], cwd=tmp_path, check=True, capture_output=True)
    final = load_checkpoint(ck)
    assert final['epoch'] == 60 and final['history']['rows'][-1]['epoch'] == 60
    assert all(np.isfinite(v.numpy()).all() for v in final['model'].values())
    z = np.load(tmp_path/'run'/'embeddings.npz')['z']
    assert z.shape == (600, 8) and np.isfinite(z).all()


def test_cli_config_error_is_one_clear_line(tmp_path):
    (tmp_path/'bad.yaml').write_text(yaml.safe_dump({'train': {'epohcs': 3}}))
    r = subprocess.run([REMADOM, 'train', '--config', str(tmp_path/'bad.yaml')],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2
    assert "unknown key 'train.epohcs'" in r.stderr and "Did you mean 'train.epochs'" in r.stderr
    assert 'Traceback' not in r.stderr


def test_cli_train_embed_impute_evaluate(tmp_path):
    cfg = _cfg(tmp_path/'run', **{'train.epochs': 2}); (tmp_path/'cfg.yaml').write_text(yaml.safe_dump(cfg))
    run = lambda *a: subprocess.run([REMADOM, *a], cwd=tmp_path, check=True, capture_output=True, text=True)
    run('train', '--config', 'cfg.yaml')
    z_train = np.load(tmp_path/'run'/'embeddings.npz')
    r = subprocess.run([REMADOM, 'embed', str(tmp_path/'run')], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2 and 'already exists; pass --overwrite' in r.stderr and 'Traceback' not in r.stderr
    run('embed', str(tmp_path/'run'), '--overwrite')
    z_embed = np.load(tmp_path/'run'/'embeddings.npz')
    # one rule: train's and embed's embeddings both come from checkpoint.best.pt, and say so
    np.testing.assert_array_equal(z_train['z'], z_embed['z'])
    assert str(z_embed['checkpoint']).endswith('checkpoint.best.pt')
    assert str(z_train['checkpoint_sha256']) == str(z_embed['checkpoint_sha256'])
    run('impute', str(tmp_path/'run'), '--target', 'adt', '--use', 'rna', '--n-samples', '3')
    imp = np.load(tmp_path/'run'/'imputed_adt.npz')
    assert imp['mean'].shape == (600, 134) and (imp['mean'] >= 0).all() and (imp['sd'] >= 0).all()
    out = run('evaluate', str(tmp_path/'run')).stdout
    met = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert met['checkpoint']['sha256'] == str(z_embed['checkpoint_sha256'])
    assert str(np.load(tmp_path/'run'/'imputed_adt.npz')['checkpoint_sha256']) == met['checkpoint']['sha256']
    assert {'remadom', 'pca_baseline'} <= set(met) and 0 <= met['remadom']['nmi'] <= 1 and 'pca_baseline' in out
    for f in ('umap_remadom.png', 'umap_pca.png'): assert (tmp_path/'run'/f).stat().st_size > 5000
    um = os.umask(0); os.umask(um)                        # outputs get the user's umask, not mkstemp's 0600
    for f in ('checkpoint.best.pt', 'checkpoint.last.pt', 'embeddings.npz', 'imputed_adt.npz', 'metrics.json',
              'config.resolved.yaml', 'train_log.csv'):
        assert (tmp_path/'run'/f).stat().st_mode & 0o777 == 0o666 & ~um, f
