"""Score mosaic runs (configs/mosaic.yaml) by the figures of issue 7: Leiden NMI against cell_type and scIB batch iLISI.

Usage (each RUN_DIR from `remadom train --config configs/mosaic.yaml --set seed=S --run-dir RUN_DIR`):

    python scripts/mosaic_eval.py RUN_DIR [RUN_DIR ...]          # read RUN_DIR/metrics.json (`remadom evaluate RUN_DIR`)
    python scripts/mosaic_eval.py --quick RUN_DIR [RUN_DIR ...]  # no metrics.json: the same two figures only

`--quick` scores the run's embeddings.npz with the functions `remadom evaluate` calls (`remadom.eval.evaluate` with the
CLI's Leiden resolutions and the config seed) and iLISI as scib-metrics' Benchmarker does inside `scib_suite`
(`ilisi_knn` on the 90 nearest neighbours found by faiss), but skips the baseline, the rest of the scIB set, the
imputation and the figures, so it takes seconds; it writes RUN_DIR/quick_scores.json.
Prints one row per run (NMI, iLISI, best epoch, stop reason) and the mean and SD over the runs.
"""
import argparse, json, sys
from pathlib import Path
import numpy as np, pandas as pd


def _ilisi(z, labels, batches) -> float:
    "scIB iLISI as `scib_suite` gets it from the Benchmarker: `ilisi_knn` on the 90 faiss neighbours of the labelled cells."
    from scib_metrics import ilisi_knn
    from remadom.eval.report import _faiss_neighbors
    ok = ~pd.isna(labels)
    return float(ilisi_knn(_faiss_neighbors(np.asarray(z, np.float32)[ok], 90), np.asarray(batches)[ok].astype(str)))


def _quick(run: Path) -> dict:
    "NMI and iLISI of RUN_DIR/embeddings.npz, computed as `remadom evaluate` computes them."
    import yaml
    from remadom.cli import RESOLUTIONS
    from remadom.eval import evaluate
    from remadom.data import load_example, read_data
    cfg = yaml.safe_load((run/'config.resolved.yaml').read_text())
    d = cfg['data']
    data = load_example(d['example']) if d.get('example') else read_data(d['path'])
    e = np.load(run/'embeddings.npz', allow_pickle=False)
    z, names = e['z'], e['obs_names']
    labels = data.obs[d['label_key']].reindex(names).to_numpy()
    batches = data.obs[d['batch_key']].reindex(names).to_numpy()
    r = evaluate(z, labels, batches, seed=cfg['seed'], resolutions=RESOLUTIONS)['remadom']
    out = dict(nmi=r['nmi'], ari=r['ari'], sil_batch=r['sil_batch'], ilisi=_ilisi(z, labels, batches), seed=cfg['seed'])
    (run/'quick_scores.json').write_text(json.dumps(out, indent=1))
    return out


def _scores(run: Path, quick: bool) -> dict:
    if (run/'metrics.json').exists():
        m = json.loads((run/'metrics.json').read_text())
        sc = (m.get('scib') or {}).get('remadom', {})
        out = dict(nmi=m['remadom']['nmi'], ilisi=sc.get('ilisi', float('nan')), source='metrics.json')
    elif quick: out = dict(_quick(run), source='quick')
    elif (run/'quick_scores.json').exists(): out = dict(json.loads((run/'quick_scores.json').read_text()), source='quick')
    else: sys.exit(f"{run}: no metrics.json; run `remadom evaluate {run}` or pass --quick.")
    h = json.loads((run/'train_history.json').read_text())
    out.update(best_epoch=h.get('best_epoch'), last_epoch=h['rows'][-1]['epoch'] if h.get('rows') else None,
               stop_reason=h.get('stop_reason'))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('runs', nargs='+', help='run directories')
    p.add_argument('--quick', action='store_true', help='score runs without metrics.json (NMI and iLISI only)')
    a = p.parse_args(argv)
    rows = {r: _scores(Path(r), a.quick) for r in a.runs}
    print(f"{'run':28}{'NMI':>8}{'iLISI':>8}{'best':>6}{'last':>6}  source")
    for r, s in rows.items():
        print(f"{r:28}{s['nmi']:8.3f}{s['ilisi']:8.3f}{s['best_epoch']!s:>6}{s['last_epoch']!s:>6}  {s['source']}")
    nmi, il = np.array([s['nmi'] for s in rows.values()]), np.array([s['ilisi'] for s in rows.values()])
    print(f"{'mean (sd)':28}{nmi.mean():8.3f}{il.mean():8.3f}   NMI sd {nmi.std(ddof=1) if len(nmi) > 1 else 0:.3f}, "
          f"iLISI sd {il.std(ddof=1) if len(il) > 1 else 0:.3f}; targets NMI >= 0.80 and iLISI >= 0.70: "
          f"{'met' if nmi.mean() >= 0.80 and il.mean() >= 0.70 else 'not met'}")


if __name__ == '__main__': main()
