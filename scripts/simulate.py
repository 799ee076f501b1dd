"""Simulate a ground-truth multimodal data set with `remadom.data.mock.simulate` and write it as `.h5mu`.

Example: python scripts/simulate.py --problem mosaic --n-cells 100000 --out sim.h5mu
         python scripts/simulate.py --problem paired --n-cells 1000000 --modalities rna=500,atac=2000 --out big.h5mu
Prints the number of cells, the non-zeros of each modality and the generation and write times."""
import argparse, time
from remadom.data.mock import simulate, PROBLEMS


def _modalities(s):
    "Parse 'rna=500,atac=2000' into {'rna': 500, 'atac': 2000}."
    out = {}
    for item in s.split(','):
        name, _, p = item.partition('=')
        if not name or not p.isdigit():
            raise argparse.ArgumentTypeError(f"--modalities item {item!r} must look like NAME=N_FEATURES, e.g. rna=500")
        out[name.strip()] = int(p)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--problem', default='paired', choices=PROBLEMS)
    ap.add_argument('--n-cells', type=int, default=100_000)
    ap.add_argument('--modalities', type=_modalities, default=None,
                    help="NAME=N_FEATURES,... (default rna=500,atac=1000,adt=30)")
    ap.add_argument('--n-batches', type=int, default=None, help='default: 2, or (modalities + 1) for mosaic')
    ap.add_argument('--n-types', type=int, default=5)
    ap.add_argument('--batch-strength', type=float, default=0.5)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--chunk-size', type=int, default=20_000)
    ap.add_argument('--out', default='sim.h5mu', help="output .h5mu path ('' to skip writing)")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    mdata = simulate(a.problem, n_cells=a.n_cells, modalities=a.modalities, n_batches=a.n_batches, n_types=a.n_types,
                     batch_strength=a.batch_strength, seed=a.seed, chunk_size=a.chunk_size)
    t_gen = time.perf_counter() - t0
    print(f"problem={a.problem} n_cells={mdata.n_obs:,} generated in {t_gen:.1f}s")
    for m, ad in mdata.mod.items():
        X = ad.X
        print(f"  {m}: {ad.n_obs:,} cells x {ad.n_vars:,} features, nnz={X.nnz:,} "
              f"({X.nnz / max(ad.n_obs, 1):.1f}/cell, {(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20:.0f} MiB CSR)")
    if a.out:
        t1 = time.perf_counter()
        mdata.write(a.out)
        print(f"wrote {a.out} in {time.perf_counter() - t1:.1f}s")
    print(f"total {time.perf_counter() - t0:.1f}s")


if __name__ == '__main__':
    main()
