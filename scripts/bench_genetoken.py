"""Cost per cell of the gene-token RNA encoder against the MLP encoder (CPU, one thread unless --threads).

Runs alternate between the encoders so that a busy machine slows both alike; prints ms per cell (median of the
repeats) for inference (forward, no grad) and training (forward + backward) and the ratio to the MLP.
Usage: python scripts/bench_genetoken.py [--repeats 5] [--batch 256] [--threads 1] [--device cpu]"""
import argparse, time
import numpy as np, torch
from remadom.data import load_example
from remadom.nn import Encoder
from remadom.genetoken.encoder import GeneTokenEncoder

def _time(enc, x, lib, train, dev):
    enc.train(train)
    if dev.type == 'cuda': torch.cuda.synchronize()
    t = time.perf_counter()
    if train:
        mu, lv = enc.mu_logvar(x, lib); (mu.sum() + lv.sum()).backward()
    else:
        with torch.no_grad(): enc.mu_logvar(x, lib)
    if dev.type == 'cuda': torch.cuda.synchronize()
    return time.perf_counter() - t

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--repeats', type=int, default=5); ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--device', default='cpu')
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    dev = torch.device(a.device)
    m = load_example('neurips2021_bmmc_cite_starter')['rna']
    x = torch.as_tensor(m.X[:a.batch].toarray(), dtype=torch.float32, device=dev); lib = x.sum(1)
    p = x.shape[1]
    encs = {'mlp(256)': Encoder(p, 20, hidden=(256,)),
            'genetoken k=128 d=64 L=2': GeneTokenEncoder(p, 20, d=64, n_layers=2, n_heads=4, top_k=128),
            'genetoken k=256 d=64 L=2': GeneTokenEncoder(p, 20, d=64, n_layers=2, n_heads=4, top_k=256)}
    encs = {k: v.to(dev) for k, v in encs.items()}
    for e in encs.values(): _time(e, x, lib, True, dev)   # warm-up
    res = {k: {'infer': [], 'train': []} for k in encs}
    cpu0 = time.process_time()
    for _ in range(a.repeats):
        for k, e in encs.items():
            for mode in ('infer', 'train'): res[k][mode].append(_time(e, x, lib, mode == 'train', dev) / a.batch * 1e3)
    base = {mode: np.median(res['mlp(256)'][mode]) for mode in ('infer', 'train')}
    print(f"{p} genes, batch {a.batch}, {a.threads} thread(s), {dev}, {a.repeats} alternating repeats, {time.process_time() - cpu0:.1f} CPU s")
    for k in encs:
        i, t = np.median(res[k]['infer']), np.median(res[k]['train'])
        print(f"{k:28s} infer {i:7.3f} ms/cell ({i / base['infer']:6.1f}x mlp)   train {t:7.3f} ms/cell ({t / base['train']:6.1f}x mlp)")

if __name__ == '__main__': main()
