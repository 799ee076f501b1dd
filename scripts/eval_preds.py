"Scores of saved predictions (from measure_prediction.py npz files) with remadom.predict: blend, depth correction, calibration."
import sys, glob, json, numpy as np
from scipy.stats import pearsonr, spearmanr
from remadom.predict import Blend, depth_correction, knn_moments

def pf(p, y):
    return float(np.mean([pearsonr(p[:, j], y[:, j])[0] for j in range(y.shape[1]) if np.ptp(y[:, j]) > 0 and np.ptp(p[:, j]) > 0]))

def score(path, k=20):
    d = dict(np.load(path)); y, yc = d['y_test'], d['y_cal']
    z, ti, ci, ri, yr = d['z'], d['ti'], d['ci'], d['ri'], d['y_ref']
    lr, lt, lc = np.log1p(d['lib_src_ref']), np.log1p(d['lib_src_test']), np.log1p(d['lib_src_cal'])
    binary = set(np.unique(yr[:50])) <= {0., 1.}
    kt = d['k_test'] + depth_correction(z[ti], lt, z[ri], lr, yr, k)
    kc = d['k_cal'] + depth_correction(z[ci], lc, z[ri], lr, yr, k, exclude_self=True)
    out = dict(file=path.split('/')[-1], floor=pf(d['floor'], y), decoder=pf(d['d_test'], y), knn=pf(d['k_test'], y), knn_depth=pf(kt, y))
    bl = Blend.fit(yc, d['d_cal'], d['s_cal'], kc, d['ks_cal'])
    p = bl.predict(d['d_test'], d['s_test'], kt, d['ks_test'])
    out['blend_depth'] = pf(p['mean'], y)
    bl0 = Blend.fit(yc, d['d_cal'], d['s_cal'], d['k_cal'], d['ks_cal']); out['blend'] = pf(bl0.predict(d['d_test'], d['s_test'], d['k_test'], d['ks_test'])['mean'], y)
    if not binary:
        err = np.abs(y - p['mean'])
        out['rho_within'] = float(np.nanmean([spearmanr(p['sd'][:, j], err[:, j])[0] for j in range(y.shape[1]) if np.ptp(err[:, j]) > 0 and np.ptp(p['sd'][:, j]) > 0]))
        out['cov90'] = float(((y >= p['lower']) & (y <= p['upper'])).mean())
    return {k_: (round(v, 4) if isinstance(v, float) else v) for k_, v in out.items()}

if __name__ == '__main__':
    for f in sorted(sum([glob.glob(a) for a in sys.argv[1:]], [])):
        try: print(json.dumps(score(f)))
        except KeyError as e: print(f, 'missing', e)
