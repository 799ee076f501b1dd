#!/usr/bin/env python
"""Open pages of the offline docs build in headless Chromium and check them as a reader would see them.

Talks to Chromium through the DevTools protocol over a pipe (`--remote-debugging-pipe`: NUL-separated JSON on file
descriptors 3 and 4), so it needs only the Debian `chromium` package and the standard library (no websockets, no
playwright download). For each page it fails on:

- a console error or an uncaught exception (Runtime.consoleAPICalled 'error', Runtime.exceptionThrown, Log entries
  of level 'error' such as a resource that failed to load);
- a broken internal link: a relative href whose file does not exist, or whose #anchor is not an id on that page;
- unrendered math: a `$$` or `\\(` left in the text outside code, or a page with display math whose <math> elements
  have no layout (zero size);
- a missing image: an <img> that did not load (naturalWidth 0).

    python scripts/browser_check.py SITE_DIR index.html api/eval.report.html tutorials/paired.html --screenshot shot.png

Exit 0 when every page passes, 1 on a problem, 2 when chromium is not installed.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
from urllib.parse import urlparse, unquote

_JS = r"""(() => {
  const txt = [];
  const walk = n => { if (n.nodeType === 3) txt.push(n.textContent);
    else if (n.nodeType === 1 && !['CODE','PRE','SCRIPT','STYLE','MATH'].includes(n.tagName)) n.childNodes.forEach(walk); };
  walk(document.body);
  const t = txt.join(' ');
  const maths = [...document.querySelectorAll('math')];
  return JSON.stringify({
    title: document.title,
    links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    images: [...document.querySelectorAll('img')].map(i => ({src: (i.getAttribute('src') || '').slice(0, 80), ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth})),
    n_math: maths.length, n_math_block: maths.filter(m => m.getAttribute('display') === 'block').length,
    math_unsized: maths.filter(m => { const r = m.getBoundingClientRect(); return r.width === 0 || r.height === 0; }).length,
    raw_math: (t.match(/\$\$|\\\(|\\\[/g) || []).length,
    has_sidebar: !!document.querySelector('nav.sidebar a'),
    text_len: t.length,
  });
})()"""


def find_chromium():
    for n in ('chromium', 'chromium-browser', 'google-chrome', 'chrome'):
        p = shutil.which(n)
        if p: return p
    return None


class Chrome:
    "A headless Chromium driven over --remote-debugging-pipe."
    def __init__(self, exe, width=1280, height=1600):
        self.r3, self.w3 = os.pipe(); self.r4, self.w4 = os.pipe()
        self.tmp = tempfile.mkdtemp(prefix='remadom_chromium_')
        args = [exe, '--headless=new', '--remote-debugging-pipe', '--no-sandbox', '--disable-gpu', '--no-first-run',
                '--disable-dev-shm-usage', '--disable-extensions', '--disable-background-networking', '--mute-audio',
                f'--user-data-dir={self.tmp}', f'--window-size={width},{height}', '--allow-file-access-from-files',
                'about:blank']
        # chromium reads commands on fd 3 and writes replies on fd 4
        import shlex, fcntl
        hi = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (self.r3, self.w4)]   # away from 3 and 4
        os.close(self.r3); os.close(self.w4); self.r3, self.w4 = hi
        sh = f'exec 3<&{self.r3} 4>&{self.w4} {self.r3}<&- {self.w4}>&-; exec ' + ' '.join(map(shlex.quote, args))
        self.p = subprocess.Popen([shutil.which('bash') or '/bin/bash', '-c', sh], pass_fds=(self.r3, self.w4), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, "stderr.log"), "w"))
        os.close(self.r3); os.close(self.w4)
        self.buf, self.id, self.events = b'', 0, []

    def _read(self, timeout):
        import select
        end = time.time() + timeout
        while b'\0' not in self.buf:
            left = end - time.time()
            if left <= 0 or not select.select([self.r4], [], [], left)[0]: raise TimeoutError('chromium did not answer')
            chunk = os.read(self.r4, 1 << 20)
            if not chunk: raise RuntimeError('chromium closed the pipe')
            self.buf += chunk
        msg, self.buf = self.buf.split(b'\0', 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None, timeout=60):
        self.id += 1; i = self.id
        m = {'id': i, 'method': method, 'params': params or {}}
        if session: m['sessionId'] = session
        os.write(self.w3, json.dumps(m).encode() + b'\0')
        while True:
            r = self._read(timeout)
            if r.get('id') == i:
                if 'error' in r: raise RuntimeError(f"{method}: {r['error']}")
                return r.get('result', {})
            self.events.append(r)

    def wait_event(self, name, session, timeout=60):
        for k, e in enumerate(self.events):
            if e.get('method') == name and e.get('sessionId') == session: return self.events.pop(k)
        end = time.time() + timeout
        while time.time() < end:
            e = self._read(end - time.time()); self.events.append(e)
            if e.get('method') == name and e.get('sessionId') == session: return self.events.pop()
        raise TimeoutError(name)

    def close(self):
        try: self.send('Browser.close', timeout=5)
        except Exception: pass
        try: self.p.wait(10)
        except Exception: self.p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def check_page(ch, site, page, screenshot=None, full_height=1600):
    "Problems of one page, and what it holds."
    f = (site/page).resolve()
    if not f.exists(): return [f'{page}: no such file in {site}'], {}
    tid = ch.send('Target.createTarget', {'url': 'about:blank'})['targetId']
    sid = ch.send('Target.attachToTarget', {'targetId': tid, 'flatten': True})['sessionId']
    for d in ('Page', 'Runtime', 'Log'): ch.send(f'{d}.enable', session=sid)
    ch.events = [e for e in ch.events if e.get('sessionId') != sid]
    ch.send('Page.navigate', {'url': f.as_uri()}, session=sid)
    ch.wait_event('Page.loadEventFired', sid)
    time.sleep(0.3)
    info = json.loads(ch.send('Runtime.evaluate', {'expression': _JS, 'returnByValue': True}, session=sid)['result']['value'])
    probs = []
    for e in [e for e in ch.events if e.get('sessionId') == sid]:
        m, p = e.get('method'), e.get('params', {})
        if m == 'Runtime.consoleAPICalled' and p.get('type') in ('error', 'assert'):
            probs.append(f"console error: {' '.join(str(a.get('value', a.get('description', ''))) for a in p.get('args', []))[:200]}")
        elif m == 'Runtime.exceptionThrown':
            probs.append(f"uncaught exception: {p.get('exceptionDetails', {}).get('text', '')[:200]}")
        elif m == 'Log.entryAdded' and p.get('entry', {}).get('level') == 'error':
            probs.append(f"console error: {p['entry'].get('text', '')[:200]} {p['entry'].get('url', '')}")
    ch.events = [e for e in ch.events if e.get('sessionId') != sid]
    ids_cache = {}
    for h in dict.fromkeys(info['links']):
        u = urlparse(h)
        if u.scheme or h.startswith('//') or h.startswith('mailto:'): continue
        target = f if not u.path else (f.parent/unquote(u.path)).resolve()
        if target.is_dir(): target = target/'index.html'
        if not target.exists(): probs.append(f'broken link {h!r}: {target} does not exist'); continue
        if u.fragment:
            if target == f: ids = set(info['ids'])
            else:
                if target not in ids_cache:
                    import re
                    ids_cache[target] = set(re.findall(r'\bid="([^"]+)"', target.read_text(errors='replace')))
                ids = ids_cache[target]
            if u.fragment not in ids: probs.append(f'broken link {h!r}: no id {u.fragment!r} in {target.name}')
    for im in info['images']:
        if not im['ok']: probs.append(f"missing image {im['src']!r}")
    if info['raw_math']: probs.append(f"unrendered math: {info['raw_math']} TeX delimiters left in the page text")
    if info['math_unsized']: probs.append(f"unrendered math: {info['math_unsized']} <math> elements have no layout")
    if not info['has_sidebar']: probs.append('no sidebar')
    if screenshot:
        import base64
        h = ch.send('Page.getLayoutMetrics', session=sid)['cssContentSize']['height']
        clip = {'x': 0, 'y': 0, 'width': 1280, 'height': min(h, full_height), 'scale': 1}
        png = ch.send('Page.captureScreenshot', {'format': 'png', 'clip': clip, 'captureBeyondViewport': True}, session=sid)['data']
        Path(screenshot).write_bytes(base64.b64decode(png))
    ch.send('Target.closeTarget', {'targetId': tid})
    return [f'{page}: {p}' for p in probs], info


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('site'); ap.add_argument('pages', nargs='+')
    ap.add_argument('--screenshot', help='PNG of the last page'); ap.add_argument('--json', help='write the findings here')
    ap.add_argument('--height', type=int, default=1600, help='screenshot height in CSS pixels (the page from its top)')
    a = ap.parse_args(argv)
    exe = find_chromium()
    if exe is None: print('chromium not found: apt-get install -y chromium'); return 2
    ch, out, probs = Chrome(exe), {}, []
    try:
        for i, pg in enumerate(a.pages):
            p, info = check_page(ch, Path(a.site), pg, a.screenshot if i == len(a.pages) - 1 else None, a.height)
            probs += p; out[pg] = dict(info, problems=p)
    finally: ch.close()
    if a.json: Path(a.json).write_text(json.dumps(out, indent=1))
    for pg, v in out.items():
        print(f"{'FAIL' if v['problems'] else 'ok  '} {pg}: {len(v.get('links', []))} links, {len(v.get('images', []))} images, "
              f"{v.get('n_math', 0)} math ({v.get('n_math_block', 0)} display)")
    for p in probs: print('  -', p)
    return 1 if probs else 0


if __name__ == '__main__': sys.exit(main())
