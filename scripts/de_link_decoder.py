"""Prototype (not library code): a feature-link prior on the RNA decoder for cells whose RNA is hidden, measured on
the "every B cell's RNA hidden" case of `scripts/de_markers.py`.

The head `link_decoder` (registered here, for this experiment only; its home would be nbs/api/23_links.ipynb): for
the cells of a batch that have the protein panel but not the RNA, the decoded RNA of each gene linked to a protein
(`remadom.links.protein_links`: CD20 -> MS4A1, CD19 -> CD19, CD79b -> CD79B, IgM -> IGHM, ...) should rise and fall
with that protein across those cells: loss = mean over links of 1 - Pearson(log(1 + decoded h_g), log(1 + protein_p
per 10^4 of the cell's ADT counts)). z is detached: only the decoder learns from it.

Measured (100 epochs, every B cell's RNA hidden; ranks among the genes up in the imputed B cells): without the head
MS4A1 312 / not up / 311 (seeds 0, 1, 2), CD79A 333 / 307 / 161; weight 10: MS4A1 13 / 49 / 31, CD79A 178 / 139 / 131,
CD19 11 / 1 / 5, CD79B 17 / 14 / 43, Spearman of the unlinked genes' LFCs with the measured model's -0.03 / 0.01 / -0.11;
seed 0, weights 3 / 30 / 100: MS4A1 14 / 17 / 30.

usage: OMP_NUM_THREADS=1 python scripts/de_link_decoder.py [--seeds 0] [--weights 0 10 100] [--epochs 100]
"""
import argparse, json, os, sys, tempfile
import numpy as np, torch
sys.path.insert(0, os.path.dirname(__file__))
from scipy.stats import spearmanr
from remadom.core import Head, register_head
from remadom.links import protein_links
from remadom.api import Remadom
from remadom.data import load_example
from remadom.de import differential
from de_markers import b_cells, hide_rna, rank, config, fit, MARKERS, OTHER_B

torch.set_num_threads(1)

def _pearson_cols(a, b, eps=1e-6):
    a = a - a.mean(0); b = b - b.mean(0)
    return (a * b).sum(0) / (a.norm(dim=0) * b.norm(dim=0) + eps)

@register_head('link_decoder')
class LinkDecoderHead(Head):
    "Cells with the target but not the source: each linked source feature's decoded mean should correlate with its target feature."
    def __init__(self, src_idx, tgt_idx, source:str='rna', target:str='adt', min_cells:int=8):
        super().__init__()
        self.register_buffer('si', torch.as_tensor(np.asarray(src_idx), dtype=torch.long), persistent=False)
        self.register_buffer('ti', torch.as_tensor(np.asarray(tgt_idx), dtype=torch.long), persistent=False)
        self.source, self.target, self.min_cells = source, target, min_cells
    @classmethod
    def from_registry(cls, registry, source='rna', target='adt', **kw):
        m = protein_links(registry, protein=target, gene=source).matrix.tocoo()
        return cls(m.row, m.col, source, target, **kw)
    def forward(self, z, ctx):
        b, S, T = ctx.batch, self.source, self.target
        sel = b.mask[T] & ~b.mask[S]
        if int(sel.sum()) < self.min_cells: return z.sum() * 0, {'n_cells': 0.}
        x = b.x[T].to_dense() if b.x[T].layout != torch.strided else b.x[T]
        lib = b.library[T].clamp(min=1)
        y = torch.log1p(1e4 * x[:, self.ti] / lib[:, None])[sel]
        h = ctx.model.decode(z.detach(), b, [S], {S: torch.full((b.n_obs,), 1e4, device=z.device)})[S].mean[:, self.si][sel]
        r = _pearson_cols(torch.log1p(h), y)
        return (1 - r).mean(), {'n_cells': float(sel.sum()), 'corr': float(r.mean().detach())}

def run(seed, weight, epochs, models):
    data = load_example('pbmc_cite_mosaic_midas'); isB = b_cells(data.obs)
    full = fit(data, config(seed, epochs, None, 'batch'), os.path.join(models, f'pbmc_cite_mosaic_midas_s{seed}_full_e{epochs}') if models else None)
    genes = full.registry.var_names['rna']
    de = differential(full, isB, modality='rna', seed=seed)
    hid = hide_rna(data, isB, genes)
    cfg = config(seed, epochs, None, 'batch')
    if weight: cfg['alignment'] = {'heads': [{'name': 'link_decoder', 'weight': weight}]}
    m = fit(hid, cfg, os.path.join(models, f'pbmc_cite_mosaic_midas_s{seed}_type_linkdec{weight}_e{epochs}') if models and weight else
            (os.path.join(models, f'pbmc_cite_mosaic_midas_s{seed}_type_e{epochs}') if models else None))
    pos = data.obs_names.get_indexer(hid.obs_names)
    g1, g2 = isB[pos], ~isB[pos]
    d = differential(m, g1, g2, modality='rna', seed=seed)
    links = protein_links(m.registry, 'adt', 'rna').matrix.tocoo()
    linked = sorted({str(m.registry.var_names['rna'][i]) for i in links.row})
    unlinked = [g for g in de.index if g not in set(linked)]
    out = dict(seed=seed, weight=weight, epochs=epochs, n_linked_genes=len(linked),
               **{f'{g}_rank': rank(d, g) for g in MARKERS + OTHER_B if g in d.index},
               top20=list(d[d['lfc_median'] > 0].index[:20]),
               rho_all=float(spearmanr(de['lfc_median'], d['lfc_median'].reindex(de.index)).statistic),
               rho_unlinked=float(spearmanr(de.loc[unlinked, 'lfc_median'], d['lfc_median'].reindex(unlinked)).statistic))
    return out

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--seeds', type=int, nargs='+', default=[0]); ap.add_argument('--weights', type=float, nargs='+', default=[0, 10, 100])
    ap.add_argument('--epochs', type=int, default=100); ap.add_argument('--models', default=None); ap.add_argument('--out', default=None)
    a = ap.parse_args()
    for s in a.seeds:
        for w in a.weights:
            r = run(s, w, a.epochs, a.models); print(json.dumps(r), flush=True)
            if a.out:
                with open(a.out, 'a') as f: f.write(json.dumps(r) + '\n')
