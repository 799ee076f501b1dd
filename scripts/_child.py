"""Run one measurement in a fresh Python process and read back the JSON it prints on a line starting 'RESULT '."""
import json, subprocess, sys

def run_child(code:str, args, env:dict, cwd=None, name:str='child', tail:int=2000):
    "`python -c code *args` in `env`; its RESULT dict, or None after printing the end of its stderr."
    p = subprocess.run([sys.executable, '-c', code, *map(str, args)], env=env, capture_output=True, text=True, cwd=cwd)
    line = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
    if p.returncode or not line: print(name, 'failed:', p.stderr[-tail:]); return None
    return json.loads(line[0][7:])
