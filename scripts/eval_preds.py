"""Scores of saved predictions (the npz files of measure_prediction.py; their kNN parts already carry the depth
correction unless it was run with --no-depth): floor, decoder, kNN, the pooled blend (the default) and the
per-feature blend, and the calibration of the pooled blend.  usage: python scripts/eval_preds.py '/tmp/preds_*.npz'"""
import sys, glob, json, numpy as np
from scipy.stats import pearsonr, spearmanr
from remadom.predict import Blend

def pf(p, y):
    return float(np.mean([pearsonr(p[:, j], y[:, j])[0] for j in range(y.shape[1]) if np.ptp(y[:, j]) > 0 and np.ptp(p[:, j]) > 0]))

def score(path):
    d = dict(np.load(path)); y, yc = d['y_test'], d['y_cal']
    binary = set(np.unique(d['y_ref'][:50])) <= {0., 1.}
    parts_c, parts_t = (d['d_cal'], d['s_cal'], d['k_cal'], d['ks_cal']), (d['d_test'], d['s_test'], d['k_test'], d['ks_test'])
    out = dict(file=path.split('/')[-1], floor=pf(d['floor'], y), decoder=pf(d['d_test'], y), knn=pf(d['k_test'], y))
    p = Blend.fit(yc, *parts_c).predict(*parts_t)
    out['blend'] = pf(p['mean'], y)
    out['blend_per_feature'] = pf(Blend.fit(yc, *parts_c, pooled=False).predict(*parts_t)['mean'], y)
    if not binary:
        err = np.abs(y - p['mean'])
        out['rho_within'] = float(np.nanmean([spearmanr(p['sd'][:, j], err[:, j])[0] for j in range(y.shape[1]) if np.ptp(err[:, j]) > 0 and np.ptp(p['sd'][:, j]) > 0]))
        out['cov90'] = float(((y >= p['lower']) & (y <= p['upper'])).mean())
    return {k_: (round(v, 4) if isinstance(v, float) else v) for k_, v in out.items()}

if __name__ == '__main__':
    for f in sorted(sum([glob.glob(a) for a in sys.argv[1:]], [])):
        try: print(json.dumps(score(f)))
        except KeyError as e: print(f, 'missing', e)
