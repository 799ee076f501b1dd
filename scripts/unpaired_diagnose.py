"""Where does an unpaired run's FOSCTTM come from? The teacher of the link_activity head against the ATAC expert.

    python scripts/unpaired_diagnose.py RUN_DIR [--out FILE]

For a run on the unpaired scenario (obs.role `A_only` / `B_only`, the pairing in obs.source_cell) it scores, each as
FOSCTTM between the RNA and ATAC sides of the same nuclei and 15-NN label transfer RNA -> ATAC:
- `final`: the run's joint embedding;
- `teacher_raw`: the RNA encoder applied to each ATAC cell's gene activity (what link_activity pulls the ATAC expert to);
- `teacher_calibrated`: the same with the activity rescaled per gene so its mean composition matches the RNA's;
- `expert_vs_teacher`: FOSCTTM between the ATAC expert and its own teacher (0: the expert follows the teacher exactly).
If `final` is much worse than `teacher_*`, the ATAC expert keeps a structure of its own that the head does not correct;
if it is close, the teacher is the bound.
"""
from __future__ import annotations
import argparse, json, os
from pathlib import Path
os.environ.setdefault('OMP_NUM_THREADS', '1'); os.environ.setdefault('MKL_NUM_THREADS', '1')
import numpy as np, pandas as pd, scipy.sparse as sp, torch
from remadom.api import Remadom
from remadom.align import build_links
from remadom.bridges import expert_means
from remadom.links import gene_activity
from remadom.eval.multimodal import foscttm, label_transfer

def _encode(enc, x, bs=1024):
    out = []
    with torch.no_grad():
        for s in range(0, x.shape[0], bs):
            t = torch.as_tensor(np.asarray(x[s:s + bs].toarray() if sp.issparse(x) else x[s:s + bs], np.float32))
            out.append(enc.mu_logvar(t, t.sum(1))[0].numpy())
    return np.concatenate(out)

def calibration(xr, ga, eps=1e-8) -> np.ndarray:
    "(p,) per-gene factors c with mean(c * a / |c * a|) ~ mean(x / |x|): gene activity rescaled to the RNA's mean composition."
    def comp(x):
        x = sp.csr_matrix(x, dtype=np.float64); lib = np.asarray(x.sum(1)).ravel(); lib[lib == 0] = 1
        return np.asarray((sp.diags(1 / lib) @ x).mean(0)).ravel()
    r, a = comp(xr), comp(ga)
    return np.where(a > eps, r / np.maximum(a, eps), 0.).astype(np.float32)

def diagnose(run, k=15) -> dict:
    torch.set_num_threads(1)
    m = Remadom.load(run); m.module.eval()
    names = np.asarray(m.registry.obs_names, str); obs = m.data.obs.reindex(names)
    mods = list(m.registry.modalities); a, b = mods
    role, lab, src = (obs[c].astype(str).to_numpy() for c in ('role', m.config.data.label_key, 'source_cell'))
    sa, sb = role == f'{a}_only', role == f'{b}_only'
    ia, ib = pd.Index(src[sa]), pd.Index(src[sb]); ord_b = ib.get_indexer(ia)
    L = build_links(m.config.links.to_dict(), m.registry)
    S, T = L.source, L.target
    xr = m.data.mod[S][list(names[m.registry.masks[S] & ~m.registry.masks[T]])][:, list(m.registry.var_names[S])].X
    xt = m.data.mod[T][list(names[sb if T == b else sa])][:, list(m.registry.var_names[T])].X
    ga = gene_activity(xt, L)
    enc = m.module.encoders[S]
    e = expert_means(m.module, m.registry)
    zs, zt = e[S][sa if S == a else sb], e[T][sb if T == b else sa]
    z = np.load(Path(run)/'embeddings.npz')['z'] if (Path(run)/'embeddings.npz').exists() else m.get_latent(key=None)
    def score(za, zb):          # za: source-only rows (in sa order), zb: target-only rows (in sb order)
        zz = np.zeros((len(names), za.shape[1]), np.float32); zz[sa], zz[sb] = za, zb
        return dict(foscttm=round(float(foscttm(za, zb[ord_b])['foscttm']), 4),
                    transfer=round(float(label_transfer(zz, lab, sa, sb, k=k)['accuracy']), 4))
    t_raw = _encode(enc, ga)
    c = calibration(xr, ga); t_cal = _encode(enc, sp.csr_matrix(ga) @ sp.diags(c))
    res = dict(run=str(run), epoch=m.checkpoint.get('epoch'), final=score(z[sa], z[sb]), experts=score(zs, zt),
               teacher_raw=score(zs, t_raw), teacher_calibrated=score(zs, t_cal),
               expert_vs_teacher_raw=round(float(foscttm(zt, t_raw)['foscttm']), 4),
               expert_vs_teacher_calibrated=round(float(foscttm(zt, t_cal)['foscttm']), 4),
               cos_expert_teacher_raw=round(float((np.sum(zt * t_raw, 1) / (np.linalg.norm(zt, axis=1) * np.linalg.norm(t_raw, axis=1) + 1e-12)).mean()), 4))
    return res

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0]); p.add_argument('run_dir'); p.add_argument('--out')
    a = p.parse_args(argv)
    res = diagnose(a.run_dir)
    Path(a.out or Path(a.run_dir)/'diagnose.json').write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))

if __name__ == '__main__': main()
