"""How well can labels be told from one modality at all? Supervised 5-fold cross-validation on a data set's own labels.

The label-transfer targets compare a transfer (labels carried from other cells, through an embedding) with the truth.
No transfer can beat the best classifier of the same measurements trained on the cells' own labels (up to that
classifier's own shortfall), so this script gives an upper reference for those targets:
- `teaseq_query`: the 5,048 ADT-only TEA-seq query cells (`teaseq_pbmc_query_adt`), CLR of the 46 proteins; the
  issue-11 target is 0.90 accuracy for labels transferred from the paired TEA-seq cells.
- `snareseq2_atac` / `snareseq2_rna`: SNARE-seq2 nuclei from ATAC alone (TF-IDF, LSI) or RNA alone (PCA); the issue-7
  targets are 0.75 (unpaired, RNA -> ATAC) and 0.80 (bridge, ATAC-only <- RNA-only).
Prints accuracy and macro-F1 per classifier, and the confusion of the best one.

    OMP_NUM_THREADS=1 python scripts/label_ceiling.py teaseq_query snareseq2_atac snareseq2_rna
"""
from __future__ import annotations
import argparse, json, time, warnings
import numpy as np, pandas as pd, scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from remadom.data import load_example

def _dense(x): return x.toarray() if sp.issparse(x) else np.asarray(x)

def teaseq_query():
    q = load_example('teaseq_pbmc_query_adt')
    lx = np.log1p(_dense(q.X).astype(np.float64))
    return {'clr': lx - lx.mean(1, keepdims=True)}, q.obs['cell_type'].astype(str).to_numpy()

def _tfidf(b):
    b = (b > 0).astype(np.float64).tocsr()
    tf = sp.diags(1 / np.maximum(np.asarray(b.sum(1)).ravel(), 1)) @ b
    v = (tf @ sp.diags(np.log1p(b.shape[0] / (1 + np.asarray(b.sum(0)).ravel())))).tocsr()
    v.data = np.log1p(v.data * 1e4); return v

def snareseq2_atac():
    m = load_example('snareseq2_mouse_mop'); v = _tfidf(sp.csr_matrix(m['atac'].X))
    u = TruncatedSVD(51, random_state=0).fit_transform(v)[:, 1:]
    return {'lsi50': u / np.linalg.norm(u, axis=1, keepdims=True), 'tfidf': v}, m.obs['cell_type'].astype(str).to_numpy()

def snareseq2_rna():
    import scanpy as sc, anndata as ad
    m = load_example('snareseq2_mouse_mop')
    a = ad.AnnData(_dense(m['rna'].X).astype(np.float32)); sc.pp.normalize_total(a, target_sum=1e4); sc.pp.log1p(a)
    sc.pp.scale(a, max_value=10)
    return {'pca50': sc.pp.pca(a.X, n_comps=50, random_state=0)}, m.obs['cell_type'].astype(str).to_numpy()

SETS = {'teaseq_query': teaseq_query, 'snareseq2_atac': snareseq2_atac, 'snareseq2_rna': snareseq2_rna}

def classifiers(sparse:bool):
    if sparse: return {'logreg': LogisticRegression(C=1.0, max_iter=2000)}
    sc_ = StandardScaler
    return {'knn15': KNeighborsClassifier(15), 'logreg': make_pipeline(sc_(), LogisticRegression(max_iter=3000)),
            'svc_rbf': make_pipeline(sc_(), SVC(C=3.0)), 'random_forest': RandomForestClassifier(500, random_state=0),
            'mlp': make_pipeline(sc_(), MLPClassifier((256, 128), max_iter=400, early_stopping=True, random_state=0))}

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('sets', nargs='+', choices=list(SETS)); a = ap.parse_args()
    warnings.filterwarnings('ignore')
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    for name in a.sets:
        feats, y = SETS[name](); best = (-1, None, None)
        for fname, x in feats.items():
            for cname, clf in classifiers(sp.issparse(x)).items():
                t = time.time(); p = cross_val_predict(clf, x, y, cv=cv); acc = float((p == y).mean())
                print(json.dumps(dict(data=name, features=fname, classifier=cname, accuracy=round(acc, 3),
                                      macro_f1=round(float(f1_score(y, p, average='macro')), 3), seconds=round(time.time() - t, 1))), flush=True)
                if acc > best[0]: best = (acc, f'{fname}/{cname}', p)
        print(f'{name}: best {best[1]} accuracy {best[0]:.3f}; confusion (rows true, columns predicted):')
        print(pd.crosstab(pd.Series(y, name='true'), pd.Series(best[2], name='predicted')).to_string())
