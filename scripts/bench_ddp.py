"""Per-step time of the `Trainer` on 1 or N gloo processes with the same global batch, and the gloo allreduce of one
gradient-sized vector: the measured inputs of the arithmetic in nbs/explanations/scale.ipynb.

A step is `Trainer._train_step` (forward, backward with DDP's gradient averaging, clipping, AdamW), timed with
`perf_counter` around each call; the median over `--steps` steps after `--warmup` is printed, with the median of 10
allreduces of a float32 vector of the model's parameter count. One thread per process. Run alternately:

    python scripts/bench_ddp.py --dataset teaseq_pbmc_rna_adt
    torchrun --nproc_per_node=2 scripts/bench_ddp.py --dataset teaseq_pbmc_rna_adt
"""
import argparse, json, os, statistics, time
import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--dataset', default='teaseq_pbmc_rna_adt')
    ap.add_argument('--batch-size', type=int, default=256, help='the global batch')
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    from remadom import distributed as D
    from remadom.data import load_example, register
    from remadom.data.loader import TensorLoader
    from remadom.model import MosaicVAE
    from remadom.train import Trainer
    D.init_from_env('cpu')
    reg = register(load_example(a.dataset), batch_key='batch')
    torch.manual_seed(0)
    model = MosaicVAE.from_registry(reg, n_latent=20, hidden=(256,))
    t = Trainer(model, TensorLoader(reg, batch_size=a.batch_size, seed=0, drop_last=True), epochs=10_000,
                max_steps=a.warmup + a.steps, kl_warmup_epochs=0, progress_bar=False, device='cpu')
    times, step = [], t._train_step
    def timed(*args):
        t0 = time.perf_counter(); v = step(*args); times.append(time.perf_counter() - t0); return v
    t._train_step = timed
    t.fit()
    step_s = statistics.median(times[a.warmup:])
    P = sum(p.numel() for p in model.parameters())
    ar = None
    if D.is_distributed():
        v, ts = torch.randn(P), []
        for _ in range(10):
            D.barrier(); t0 = time.perf_counter(); torch.distributed.all_reduce(v); ts.append(time.perf_counter() - t0)
        ar = statistics.median(ts)
    if D.is_main():
        print(json.dumps(dict(dataset=a.dataset, world=D.world_size(), global_batch=a.batch_size, params=P,
                              step_ms=round(step_s * 1e3, 2), allreduce_ms=None if ar is None else round(ar * 1e3, 2),
                              cells_per_s=round(a.batch_size / step_s, 1), load1=round(os.getloadavg()[0], 2))))


if __name__ == '__main__':
    main()
