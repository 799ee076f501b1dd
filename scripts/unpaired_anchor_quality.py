"""Quality of the link anchors of an unpaired run: in the gene-activity floor space vs in the run's joint embedding.

    python scripts/unpaired_anchor_quality.py RUN_DIR [--k 10]

MNN pairs between the RNA-only and ATAC-only cells (k neighbours, cosine), scored by the fraction of pairs of one cell
type and of pairs that are the same nucleus (obs.source_cell), and the fraction of ATAC cells with an anchor. It predicts
whether re-anchoring in the embedding (`bridge.params.reanchor`) can give the anchor_pull head better anchors.
"""
from __future__ import annotations
import argparse, json, os
from pathlib import Path
os.environ.setdefault('OMP_NUM_THREADS', '1'); os.environ.setdefault('MKL_NUM_THREADS', '1')
import numpy as np, torch
from remadom.api import Remadom
from remadom.align import build_links
from remadom.links import LinkAnchors
from remadom.bridges import mnn_pairs, edge_precision

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0]); p.add_argument('run_dir'); p.add_argument('--k', type=int, default=10)
    a = p.parse_args(argv); torch.set_num_threads(1)
    m = Remadom.load(a.run_dir); reg = m.registry
    names = np.asarray(reg.obs_names, str); obs = m.data.obs.reindex(names)
    lab = obs[m.config.data.label_key].astype(str).to_numpy(); src = obs['source_cell'].astype(str).to_numpy()
    pos = {}; partner = np.full(len(names), -1)
    for i, s in enumerate(src): pos.setdefault(s, []).append(i)
    for v in pos.values():
        if len(v) == 2: partner[v[0]], partner[v[1]] = v[1], v[0]
    anc = LinkAnchors(reg, build_links(m.config.links.to_dict(), reg), k=a.k); anc.update(None, 0)
    z = np.load(Path(a.run_dir)/'embeddings.npz')['z']
    out = {}
    for name, (i, j) in (('floor', anc.pairs[:2]), ('embedding', mnn_pairs(z, anc.codes, a.k, anc.group_pairs, 'cosine'))):
        pr = edge_precision(i, j, partner, lab)
        tgt = anc.target_only.numpy(); cov = np.zeros(len(names), bool); cov[i] = cov[j] = True
        out[name] = dict(n_edges=pr['n_edges'], same_type=round(pr['label'], 4), same_nucleus=round(pr['partner'], 4),
                         atac_anchored=round(float(cov[tgt].mean()), 4))
    print(json.dumps(out, indent=1))

if __name__ == '__main__': main()
