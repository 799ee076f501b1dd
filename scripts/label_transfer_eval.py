"""Label transfer to the TEA-seq ADT-only query: the classifier head against kNN transfer on the embedding.

Trains remadom on `teaseq_bridge_query` (1,262 paired RNA + ADT cells labelled, 5,048 ADT-only query cells UNLABELLED,
or left out with --no-query) with `configs/label_transfer.yaml`, then prints per seed: the head's accuracy and macro-F1
on the query (argmax), the fraction unassigned at --threshold and the accuracy of the assigned cells, and kNN (k=15)
label transfer reference -> query on the same embedding (`remadom.eval.multimodal.label_transfer`), plus the kNN on
CLR-ADT floor. The query labels are used only for these scores.

--val: model selection without the query labels. 20% of the reference cells (stratified) lose their labels for
training and are scored from their ADT-only posterior (the view a query cell gets); the query is not scored.

    OMP_NUM_THREADS=1 python scripts/label_transfer_eval.py --seeds 0 1 2 [--set train.epochs=60] [--val] [--no-query]
"""
from __future__ import annotations
import argparse, json, time, warnings
import numpy as np, pandas as pd, torch

from remadom.config import load_config
from remadom.data import load_example, register
from remadom.data.loader import make_loader, train_val_split
from remadom.model import MosaicVAE
from remadom.train import Trainer
from remadom.align import build_alignment
from remadom.api import _modalities, _hvg, _model_kwargs
from remadom.core import seed_everything
from remadom.heads.classifier import ClassifierHead, predict_labels
from remadom.eval.multimodal import label_transfer
from sklearn.metrics import f1_score


def _value(v):
    try: return json.loads(v)
    except json.JSONDecodeError: return v


def scores(true, pred):
    return dict(accuracy=float((pred == true).mean()), macro_f1=float(f1_score(true, pred, average='macro')))


def run(seed, args):
    cfg = load_config(args.config, {'seed': seed, **dict((k, _value(v)) for k, v in (s.split('=', 1) for s in args.set))})
    data = load_example('teaseq_bridge_query')
    obs = data.obs.copy()
    role, truth = obs['role'].astype(str).to_numpy(), obs['cell_type'].astype(str).to_numpy()
    ref = role == 'reference'
    held = np.zeros(len(obs), bool)
    if args.val:                                   # hide 20% of the reference labels, stratified by type
        rng = np.random.default_rng(1000 + seed)
        for t in np.unique(truth[ref]):
            idx = np.flatnonzero(ref & (truth == t)); held[rng.permutation(idx)[:int(round(0.2 * len(idx)))]] = True
    obs['train_label'] = pd.Series(np.where(ref & ~held, truth, np.nan), index=obs.index, dtype=object)
    data.obs = obs
    if args.no_query: data = data[ref].copy()
    mods = _modalities(cfg, data)
    reg = register(data, modalities=mods, batch_key=cfg.data.batch_key, label_key='train_label', features=_hvg(cfg, data, mods))
    names = pd.Index(reg.obs_names)
    r_role = obs['role'].astype(str).reindex(names).to_numpy(); r_true = obs['cell_type'].astype(str).reindex(names).to_numpy()
    r_held = pd.Series(held, index=obs.index).reindex(names).to_numpy()
    seed_everything(seed)
    model = MosaicVAE.from_registry(reg, **_model_kwargs(cfg))
    heads, providers = build_alignment(cfg, reg)
    t = cfg.train
    tr, va = train_val_split(reg, t.val_fraction, seed=seed)
    train_dl = make_loader(reg, batch_size=t.batch_size, shuffle=True, seed=seed, indices=tr)
    val_dl = make_loader(reg, batch_size=1024, shuffle=False, seed=seed, indices=va) if len(va) else None
    t0 = time.process_time()
    trainer = Trainer(model, train_dl, val_dl, epochs=t.epochs, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay,
                      clip_grad=cfg.optim.clip_grad or None, scheduler=cfg.optim.scheduler.to_dict(),
                      kl_warmup_epochs=t.kl_warmup_epochs, kl_max=t.kl_max, heads=heads, providers=providers,
                      head_input=cfg.alignment.head_input, device='cpu', progress_bar=False, seed=seed)
    trainer.fit()
    cpu = time.process_time() - t0
    head = next(h for h in trainer.heads.values() if isinstance(h, ClassifierHead))
    model.cpu(); head.cpu()
    out = dict(seed=seed, cpu_s=round(cpu, 1), epochs=t.epochs)
    if args.val:   # the held-out reference cells seen through ADT only
        pred = predict_labels(model, head, reg, threshold=0., use=['adt'])['label'].astype(str).to_numpy()
        out['val_head_adt'] = scores(r_true[r_held], pred[r_held])
        z, _ = model.embed(make_loader(reg, batch_size=1024, shuffle=False, seed=0), use=['adt'])
        zf, _ = model.embed(make_loader(reg, batch_size=1024, shuffle=False, seed=0))
        zz = np.where(r_held[:, None], z.numpy(), zf.numpy())    # labelled cells fused, held-out cells ADT-only
        lt = label_transfer(zz, r_true, (r_role == 'reference') & ~r_held, r_held)
        out['val_knn_adt'] = dict(accuracy=lt['accuracy'], macro_f1=lt['macro_f1'])
        return out
    qry = r_role == 'query'
    if not qry.any():   # --no-query: embed the query against the trained registry
        q = load_example('teaseq_bridge_query'); q = q[q.obs['role'] == 'query'].copy()
        qreg = register(q, batch_key=cfg.data.batch_key, reference=reg)
        pl, p = predict_labels(model, head, qreg, threshold=args.threshold, return_probabilities=True)
        qtrue = q.obs['cell_type'].astype(str).reindex(pd.Index(qreg.obs_names)).to_numpy()
        zr, _ = model.embed(make_loader(reg, batch_size=1024, shuffle=False, seed=0))
        zq, _ = model.embed(make_loader(qreg, batch_size=1024, shuffle=False, seed=0))
        emb = np.concatenate([zr.numpy(), zq.numpy()]); lab = np.concatenate([r_true, qtrue])
        src = np.r_[np.ones(reg.n_obs, bool), np.zeros(qreg.n_obs, bool)]
        lt = label_transfer(emb, lab, src, ~src)
    else:
        pl, p = predict_labels(model, head, reg, threshold=args.threshold, return_probabilities=True)
        pl, p, qtrue = pl[qry], p[qry], r_true[qry]
        zf, _ = model.embed(make_loader(reg, batch_size=1024, shuffle=False, seed=0))
        lt = label_transfer(zf.numpy(), r_true, r_role == 'reference', qry)
    arg = np.asarray(p.columns)[p.to_numpy().argmax(1)]
    assigned = pl['label'].astype(str).to_numpy() != 'unassigned'
    out['head'] = scores(qtrue, arg)
    out['unassigned'] = float(1 - assigned.mean())
    out['head_assigned_accuracy'] = float((arg == qtrue)[assigned].mean()) if assigned.any() else float('nan')
    out['knn'] = dict(accuracy=lt['accuracy'], macro_f1=lt['macro_f1'])
    return out


def clr_floor():
    d = load_example('teaseq_bridge_query'); a = d['adt']
    X = a.X.toarray() if hasattr(a.X, 'toarray') else np.asarray(a.X)
    l = np.log1p(X); clr = l - l.mean(1, keepdims=True)
    role = d.obs['role'].astype(str).reindex(a.obs_names).to_numpy(); lab = d.obs['cell_type'].astype(str).reindex(a.obs_names).to_numpy()
    lt = label_transfer(clr, lab, role == 'reference', role == 'query')
    return dict(accuracy=lt['accuracy'], macro_f1=lt['macro_f1'])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--config', default='configs/label_transfer.yaml')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--set', action='append', default=[], help='dotted override, e.g. train.epochs=60 (value parsed as JSON)')
    ap.add_argument('--threshold', type=float, default=0.5)
    ap.add_argument('--val', action='store_true', help='score held-out reference cells via ADT only; the query is not scored')
    ap.add_argument('--no-query', action='store_true', help='train on the paired cells only (the query is mapped afterwards)')
    args = ap.parse_args()
    torch.set_num_threads(1); warnings.filterwarnings('ignore')
    rows = []
    for s in args.seeds:
        r = run(s, args); rows.append(r); print(json.dumps(r), flush=True)
    keys = ['val_head_adt', 'val_knn_adt'] if args.val else ['head', 'knn']
    for k in keys:
        for m in ('accuracy', 'macro_f1'):
            v = np.array([r[k][m] for r in rows]); print(f"{k:14s} {m:9s} {v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f}  {np.round(v, 3).tolist()}")
    if not args.val:
        v = np.array([r['unassigned'] for r in rows]); print(f"unassigned at p < {args.threshold}: {v.mean():.3f}  {np.round(v, 3).tolist()}")
        print(f"kNN on CLR-ADT floor: {clr_floor()}")


if __name__ == '__main__':
    main()
