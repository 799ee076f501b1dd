"""remadom against scvi-tools (totalVI, MultiVI, scVI) on the bundled data, side by side, alternating runs.

    bash bench/setup_peers.sh                      # once: scvi-tools in bench/.venv-peers (same torch==2.13.0)
    .venv/bin/python bench/peers.py                # every pair below, 2 repeats each, 1 thread
    .venv/bin/python bench/peers.py --pairs cite --repeats 3 --ttq

Each fit runs in its own process (`bench/_job.py`) with the same thread count, batch size 128 and latent size 20;
each tool trains for its own default length unless --epochs is given. The order of the two tools alternates between
repeats, so slow phases of a shared machine hit both. Quality is scored by the same code for both embeddings
(`remadom.eval.cluster_metrics`: Leiden NMI/ARI against `cell_type`, best of resolutions 0.25-2; batch silhouette),
and FOSCTTM between the single-modality embeddings where both tools give them (RNA+ATAC). `--ttq` also finds the
shortest remadom run (5, 10, 20, 40, 80, ... epochs) whose NMI reaches the peer's, and reports its wall time against the
peer's: time to quality. The table prints medians and ratios remadom / peer (below 1 is better for time and memory).
"""
from __future__ import annotations
import argparse, json, os, statistics, subprocess, sys, time
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PAIRS = {  # name: (data file, peer, highly variable genes for both (0: all), peaks kept: open in >= this fraction of nuclei)
    'cite': ('neurips2021_bmmc_cite_starter.h5mu', 'totalvi', 0, 0.),
    'teaseq': ('teaseq_pbmc_rna_adt.h5mu', 'totalvi', 4000, 0.),
    'snare': ('snareseq2_mouse_mop.h5mu', 'multivi', 0, 0.),                 # all 25,734 peaks
    'snare_open': ('snareseq2_mouse_mop.h5mu', 'multivi', 0, 0.01),          # the 2,387 peaks open in >= 1% of nuclei
    'multiome': ('neurips2021_bmmc_multiome_starter.h5mu', 'multivi', 0, 0.),
}
PEER_PY = os.path.join(HERE, '.venv-peers', 'bin', 'python')

def _job(model, pair, a, out, epochs=None):
    data, _, genes, min_open = PAIRS[pair]
    py = sys.executable if model == 'remadom' else PEER_PY
    env = {**os.environ, 'OMP_NUM_THREADS': str(a.threads), 'MKL_NUM_THREADS': str(a.threads), 'PYTHONPATH': ROOT}
    cmd = [py, os.path.join(HERE, '_job.py'), model, os.path.join(ROOT, 'data', data), '--out', out, '--threads', str(a.threads),
           '--epochs', str(epochs if epochs is not None else a.epochs), '--genes', str(genes), '--seed', str(a.seed), '--min-open', str(min_open)]
    if model == 'remadom' and a.precision != 'fp32': cmd += ['--precision', a.precision]   # the peers always run float32
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode: raise SystemExit(f"{model} on {pair} failed:\n{p.stderr[-3000:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1]); r['wall_s'] = time.perf_counter() - t
    return r

def _scores(out, pair):
    import mudata as md
    from remadom.eval import cluster_metrics, silhouettes
    md.set_options(pull_on_update=False)
    m = md.read_h5mu(os.path.join(ROOT, 'data', PAIRS[pair][0]))
    e = np.load(os.path.join(out, 'emb.npz'), allow_pickle=True)
    obs = m.obs.loc[e['obs_names']]
    cm = cluster_metrics(e['joint'], obs['cell_type'].astype(str).values, resolutions=(0.25, 0.5, 1.0, 1.5, 2.0))
    s = dict(nmi=cm['nmi'], ari=cm['ari'])
    try: s['sil_batch'] = silhouettes(e['joint'], obs['cell_type'].astype(str).values, obs['batch'].astype(str).values).get('sil_batch')
    except Exception: pass
    mods = sorted(f for f in e.files if f.startswith('mod_'))
    if len(mods) == 2:
        from remadom.eval.multimodal import foscttm
        s['foscttm'] = foscttm(e[mods[0]], e[mods[1]])['foscttm']
    return s

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--pairs', default='cite,teaseq,snare', help=f'comma-separated, from {list(PAIRS)}')
    p.add_argument('--repeats', type=int, default=2); p.add_argument('--threads', type=int, default=1)
    p.add_argument('--epochs', type=int, default=0, help='0: each tool its default length')
    p.add_argument('--seed', type=int, default=0); p.add_argument('--ttq', action='store_true', help='time to quality')
    p.add_argument('--out', default=os.path.join(HERE, 'out'))
    p.add_argument('--precision', default='fp32', choices=('fp32', 'bf16'),
                   help="remadom's train.precision (bf16: autocast, for CPUs with bf16 units); the peers run float32")
    a = p.parse_args()
    if not os.path.exists(PEER_PY): raise SystemExit("bench/.venv-peers is missing: run `bash bench/setup_peers.sh` first.")
    rows = []
    for pair in a.pairs.split(','):
        if pair not in PAIRS: raise SystemExit(f"--pairs: {pair!r} is not one of {list(PAIRS)}")
        peer = PAIRS[pair][1]; res = {'remadom': [], peer: []}
        for r in range(a.repeats):
            for model in (('remadom', peer) if r % 2 == 0 else (peer, 'remadom')):
                out = os.path.join(a.out, f'{pair}_{model}_{r}')
                j = _job(model, pair, a, out); j.update(_scores(out, pair)); res[model].append(j)
                print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in j.items()}), flush=True)
        med = lambda model, k: statistics.median(x[k] for x in res[model] if x.get(k) is not None) if any(x.get(k) is not None for x in res[model]) else float('nan')
        row = dict(pair=pair, peer=peer)
        for k in ('fit_s', 'process_s', 'fit_cpu_s', 'epochs', 'peak_rss_mb', 'nmi', 'ari', 'sil_batch', 'foscttm'):
            row[k] = (med('remadom', k), med(peer, k))
        row['s_epoch'] = tuple(med(mm, 'fit_s') / med(mm, 'epochs') for mm in ('remadom', peer))
        row['cells_s'] = tuple(res[mm][0]['n_cells'] * med(mm, 'epochs') / med(mm, 'fit_s') for mm in ('remadom', peer))
        if a.ttq:
            target, ep, ttq = row['nmi'][1], 5, None
            while ep <= 640:
                out = os.path.join(a.out, f'{pair}_remadom_ttq{ep}')
                j = _job('remadom', pair, a, out, epochs=ep); j.update(_scores(out, pair))
                print(json.dumps({'ttq_epochs': ep, 'nmi': round(j['nmi'], 4), 'fit_s': round(j['fit_s'], 2)}), flush=True)
                if j['nmi'] >= target: ttq = (j['fit_s'], ep); break
                ep *= 2
            row['ttq'] = ttq
        rows.append(row)
    print(f"\nremadom / peer, medians of {a.repeats} alternating runs, {a.threads} thread(s), batch 128, latent 20, "
          f"remadom in {a.precision}, {time.strftime('%Y-%m-%d')}")
    hdr = f"{'data':10s} {'peer':8s} {'fit wall':>14s} {'process wall':>14s} {'CPU s':>14s} {'epochs':>9s} {'s/epoch':>16s} {'cells/s':>16s} {'peak RSS MB':>16s} {'NMI':>12s} {'ARI':>12s} {'FOSCTTM':>12s} {'time to quality':>18s}"
    print(hdr); print('-' * len(hdr))
    f = lambda t, d=2: f"{t[0]:.{d}f}/{t[1]:.{d}f}"
    for r in rows:
        ratio = lambda k: r[k][0] / r[k][1]
        tq = '-' if 'ttq' not in r else ('not reached' if r['ttq'] is None else f"{r['ttq'][0] / r['fit_s'][1]:.2f}x ({r['ttq'][1]} ep)")
        print(f"{r['pair']:10s} {r['peer']:8s} {ratio('fit_s'):6.2f}x {r['fit_s'][0]:4.0f}/{r['fit_s'][1]:<4.0f}"
              f"{ratio('process_s'):6.2f}x {r['process_s'][0]:4.0f}/{r['process_s'][1]:<4.0f}"
              f"{ratio('fit_cpu_s'):6.2f}x {r['fit_cpu_s'][0]:4.0f}/{r['fit_cpu_s'][1]:<4.0f} {r['epochs'][0]:4.0f}/{r['epochs'][1]:<4.0f}"
              f"{ratio('s_epoch'):6.2f}x {f(r['s_epoch'], 3):>9s} {ratio('cells_s'):6.2f}x {f(r['cells_s'], 0):>9s} "
              f"{ratio('peak_rss_mb'):6.2f}x {f(r['peak_rss_mb'], 0):>9s} {f(r['nmi'], 3):>12s} {f(r['ari'], 3):>12s} "
              f"{f(r['foscttm'], 3) if r['foscttm'][0] == r['foscttm'][0] else '-':>12s} {tq:>18s}")

if __name__ == '__main__': main()
