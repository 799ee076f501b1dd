"""Peak-RSS profile of `evaluate_run`: samples RSS every 50 ms and keeps the main thread's stack at each new peak.

Usage: PYTHONPATH=$PWD OMP_NUM_THREADS=1 python scripts/profile_eval_memory.py RUN_DIR [--scib yes|no]
Prints the peak RSS, the stack at the peak, and the RSS high-water mark per innermost remadom function."""
import argparse, os, sys, threading, time, traceback

def rss_mb() -> float:
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('run_dir'); ap.add_argument('--scib', default='no', choices=('yes', 'no'))
    a = ap.parse_args()
    from remadom.eval.report import evaluate_run
    main_id = threading.get_ident(); peak = [0., None]; per = {}; stop = threading.Event()
    def sample():
        while not stop.is_set():
            r = rss_mb(); fr = sys._current_frames().get(main_id)
            if fr is not None:
                st = traceback.extract_stack(fr)
                rem = [f for f in st if 'remadom' in f.filename]
                key = f'{rem[-1].name} ({os.path.basename(rem[-1].filename)}:{rem[-1].lineno})' if rem else '?'
                lib = [f for f in st if 'scib_metrics' in f.filename]   # inside the scIB pass: which metric
                if lib: key += f' / scib_metrics {lib[-1].name} ({os.path.basename(lib[-1].filename)}:{lib[-1].lineno})'
                per[key] = max(per.get(key, 0), r)
                if r > peak[0]: peak[:] = [r, ''.join(traceback.format_list(st[-12:]))]
            time.sleep(0.05)
    th = threading.Thread(target=sample, daemon=True); th.start()
    t0 = time.time(); evaluate_run(a.run_dir, scib=a.scib == 'yes'); stop.set(); th.join()
    print(f'seconds {time.time() - t0:.0f}; peak RSS {peak[0]:.0f} MB; stack at the peak:\n{peak[1]}')
    for k, v in sorted(per.items(), key=lambda kv: -kv[1])[:25]: print(f'{v:8.0f} MB  {k}')

if __name__ == '__main__': main()
