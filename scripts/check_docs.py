#!/usr/bin/env python
"""Render the documentation offline and check it.

The site is built by `nbdev-docs` with Quarto, which is not installed here. This script does what that build does,
without Quarto:

1. processes the notebooks exactly as nbdev does for docs (`nbdev.processors.FilterDefaults`, run through
   `nbdev.serve_drv.main`, like `nbdev-proc-nbs`): directives such as `#| hide` / `#| export` applied, `show_doc`
   cells added and executed, front matter taken from the title cell;
2. writes nbdev's generated `nbdev.yml` and `sidebar.yml` next to a copy of `nbs/_quarto.yml` and checks that they
   make a valid Quarto website config;
   The home page and the tutorials are committed with their outputs (as nbdev projects usually keep them; refresh
   them with `nbdev-test --save` on those notebooks), so their pages show figures and metric tables; a tutorial page
   without a figure is a problem. `--execute GLOB...` instead re-executes notebooks with execnb under IN_TEST, as
   `nbdev-test` runs them, into the output folder (the sources are not touched);
3. turns each processed notebook into the markdown Quarto would hand to pandoc (cell options `echo`, `output`,
   `include` applied) and renders it to HTML with pandoc (the `pypandoc-binary` wheel, or a `pandoc` on PATH),
   which is the engine Quarto itself uses: heading ids, link attributes, fenced divs and `$$` math are parsed the
   same way;
4. checks every page: it renders, has a title and a summary, no output holds a Python traceback, internal links
   (relative, `.ipynb`, and the absolute links nbdev makes to the site) resolve to a page and an anchor, and every
   `$$` block of the notebook is rendered as math.

Nothing is written outside the output folder (default `_docs_offline/`): `nbs/` and `remadom/` are left alone.

    python scripts/check_docs.py                      # every notebook
    python scripts/check_docs.py api/00_core index    # a subset (paths under nbs/, `.ipynb` optional)
    python scripts/check_docs.py --out /tmp/site --force

Prints a summary; exits 1 when a problem is found, 2 when the check could not run (no pandoc).
"""
import argparse, contextlib, html, io, json, os, re, shutil, subprocess, sys, time, warnings
from html.parser import HTMLParser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ('api', 'tutorials', 'explanations')  # folders of nbs/ that must exist and become sidebar sections
_TB = re.compile(r'Traceback \(most recent call last\)')
_ANSI = re.compile(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])')


# ---------------------------------------------------------------------------------------------------------- setup
def find_pandoc():
    "Path of a pandoc binary: the one in `pypandoc-binary`, else `pandoc` on PATH, else None."
    try:
        import pypandoc
        p = pypandoc.get_pandoc_path()
        if p and Path(p).exists(): return str(p)
    except Exception: pass
    return shutil.which('pandoc')


def _cfg():
    from nbdev.config import get_config
    return get_config(ROOT)


def all_notebooks(nbs):
    "Every notebook nbdev would render, as paths relative to `nbs` (hidden and `_` files/folders skipped)."
    from nbdev.doclinks import nbglob
    return sorted(Path(p).relative_to(nbs) for p in nbglob(nbs, func=Path))


def select(nbs, names):
    "The notebooks named in `names` (paths under nbs/, with or without `.ipynb`; globs allowed)."
    every = all_notebooks(nbs)
    if not names: return every, []
    out, missing = [], []
    for n in names:
        n = str(n).removeprefix('nbs/')
        pat = n if n.endswith('.ipynb') or '*' in n else n + '.ipynb'
        hit = [p for p in every if p.match(pat) or str(p) == pat]
        if hit: out += [p for p in hit if p not in out]
        else: missing.append(n)
    return out, missing


def out_name(rel):
    "Output html path of notebook `rel` (nbdev's `nbpath2html`, which the front matter's `output-file` follows)."
    from nbdev.config import nbpath2html
    return nbpath2html(rel)


# ------------------------------------------------------------------------------------------------------ execution
EXECUTE = ()  # notebooks re-executed for the site by default: none, the pages show the outputs committed with them


def execute(nbs, rels, exe, patterns=('index', 'tutorials/*'), force=False, timeout=600):
    "Run the notebooks matching `patterns` under IN_TEST (as nbdev-test does) into `exe`; {rel: (error, seconds)}."
    from fastcore.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    from nbdev.process import NBProcessor
    from nbdev.test import _skip_cell
    from fastcore.xtras import working_directory
    flags = _cfg().get('tst_flags', '').split()
    pats = [p if p.endswith('.ipynb') else p + '.ipynb' for p in patterns]
    lib = ROOT / _cfg().lib_path.name
    newest_lib = max(q.stat().st_mtime for q in lib.rglob('*.py'))
    res = {}
    for rel in rels:
        if not any(rel.match(p) or str(rel) == p for p in pats): continue
        src, dst = nbs/rel, exe/rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not force and dst.exists() and dst.stat().st_mtime >= max(src.stat().st_mtime, newest_lib):
            res[rel] = (None, 0.0); continue
        dst.unlink(missing_ok=True)
        t, err = time.time(), None
        os.environ['IN_TEST'] = '1'
        raw = read_nb(src)
        try:  # exactly as nbdev-test runs a notebook (its cell skipping, its folder as cwd), keeping the outputs
            nb = NBProcessor(src, rm_directives=False, process=True).nb
            sh = CaptureShell(src)
            with working_directory(src.parent), warnings.catch_warnings(), \
                 contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                sh.run_all(nb, exc_stop=True, preproc=_skip_cell(nb, flags, []), cell_timeout=timeout)
            if len(nb.cells) != len(raw.cells): raise RuntimeError('cells changed during execution')
            for a, b in zip(raw.cells, nb.cells):
                if a.cell_type == 'code': a['outputs'], a['execution_count'] = b.get('outputs', []), b.get('execution_count')
        except Exception as e: err = f'executing the notebook for the site failed: {type(e).__name__}: {str(e)[:300]}'
        finally: os.environ.pop('IN_TEST', None)
        nb = raw
        if not err: write_nb(nb, dst)
        res[rel] = (err, round(time.time() - t, 1))
    return res


# ----------------------------------------------------------------------------------------------------- processing
def process(nbs, rels, proc, force=False, sources=None):
    "Run nbdev's docs processors on each notebook into `proc`; returns {rel: (error or None, [warnings], seconds)}."
    import nbdev.serve_drv
    from nbdev.processors import FilterDefaults
    lib = ROOT / _cfg().lib_path.name
    newest_lib = max([p.stat().st_mtime for p in lib.rglob('*.py')] + [(ROOT/'pyproject.toml').stat().st_mtime])
    res = {}
    for rel in rels:
        src, dst = (sources or {}).get(rel, nbs/rel), proc/rel
        side = dst.with_suffix('.warnings.json')  # the warnings of the run that made the cached copy
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not force and dst.exists() and side.exists() and dst.stat().st_mtime >= max(src.stat().st_mtime, newest_lib):
            res[rel] = (None, json.loads(side.read_text()), 0.0); continue
        dst.unlink(missing_ok=True); side.unlink(missing_ok=True)
        err, out, t = None, io.StringIO(), time.time()
        # warnings are not intercepted: as under nbdev, those raised by executed cells land in the page's outputs;
        # catch_warnings resets the "shown once" registry, so each notebook sees them as in a fresh process
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try: nbdev.serve_drv.main((src, dst, FilterDefaults))
            except Exception as e:  # any failure of a notebook is reported, not raised
                err = f'{type(e).__name__}: {e}'
            finally: os.environ.pop('IN_TEST', None)
        wmsgs = []
        for m in re.finditer(r'Found cells containing imports and other code.*?\n---\n(.*?)\n---\n', out.getvalue(), re.DOTALL):
            first = [l for l in m.group(1).splitlines() if l.strip() and not l.startswith('#|')][:1]
            wmsgs.append('a cell mixing imports and code is executed at docs time (nbdev FAQ; move its imports to an '
                         f'import cell): {first[0][:100] if first else ""!r}')
        res[rel] = (err, list(dict.fromkeys(wmsgs)), round(time.time() - t, 1))
        if not err: side.write_text(json.dumps(res[rel][1]))
    return res


def stage_config(nbs, proc):
    "Copy the non-notebook files nbdev stages (`_quarto.yml`, css, ...) and write nbdev's `nbdev.yml`, `sidebar.yml`."
    from nbdev import quarto as nq
    for f in nbs.rglob('*'):
        rel = f.relative_to(nbs)
        if not f.is_file() or f.suffix == '.ipynb' or any(p.startswith('.') or p in ('_proc', '_docs', '_site')
                                                          for p in rel.parts): continue
        (proc/rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, proc/rel)
    cfg = _cfg()
    vals = {k: cfg.get(k, '') for k in ['title', 'description', 'branch', 'git_url', 'doc_host', 'doc_baseurl']}
    vals['doc_path'] = cfg.doc_path.name
    if not vals['title']: vals['title'] = cfg.lib_name
    (proc/'nbdev.yml').write_text(nq._nbdev_yml.format(**vals))  # what `refresh_quarto_yml` writes to nbs/nbdev.yml
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf): nq.nbdev_sidebar.__wrapped__(path=nbs, printit=True, force=True)
    (proc/'sidebar.yml').write_text(buf.getvalue())  # what `nbdev_sidebar` writes to nbs/sidebar.yml


def _merge(a, b):
    out = dict(a)
    for k, v in b.items(): out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _sidebar_files(contents):
    for c in contents or []:
        if isinstance(c, str): yield c
        elif isinstance(c, dict):
            if c.get('href'): yield c['href']
            yield from _sidebar_files(c.get('contents'))


def check_config(nbs, proc):
    "Problems with `_quarto.yml` + the metadata files as one Quarto website config; returns (problems, merged)."
    probs = []
    top = ROOT/'_quarto.yml'
    if top.is_symlink() and top.resolve() != (nbs/'_quarto.yml').resolve():
        probs.append(f'_quarto.yml links to {os.readlink(top)}, not to nbs/_quarto.yml')
    try: q = yaml.safe_load((proc/'_quarto.yml').read_text())
    except Exception as e: return [f'nbs/_quarto.yml does not parse: {e}'], {}
    if not isinstance(q, dict): return ['nbs/_quarto.yml is not a YAML mapping'], {}
    if (q.get('project') or {}).get('type') != 'website': probs.append("_quarto.yml: project.type is not 'website'")
    merged = q
    for m in q.get('metadata-files') or []:
        f = proc/m
        if not f.exists(): probs.append(f'metadata file {m} named in _quarto.yml does not exist after processing'); continue
        try: d = yaml.safe_load(f.read_text())
        except Exception as e: probs.append(f'{m} does not parse: {e}'); continue
        if not isinstance(d, dict): probs.append(f'{m} is not a YAML mapping'); continue
        merged = _merge(merged, d)
    w = merged.get('website') or {}
    if not w.get('title'): probs.append('website.title is missing (nbdev.yml)')
    if not (merged.get('project') or {}).get('output-dir'): probs.append('project.output-dir is missing (nbdev.yml)')
    contents = (w.get('sidebar') or {}).get('contents')
    if not contents: probs.append('website.sidebar.contents is empty (sidebar.yml)')
    for f in _sidebar_files(contents):
        if not (nbs/f).exists(): probs.append(f'sidebar.yml names {f}, which does not exist in nbs/')
    css = ((merged.get('format') or {}).get('html') or {}).get('css')
    for c in ([css] if isinstance(css, str) else css or []):
        if not (proc/c).exists(): probs.append(f'format.html.css names {c}, which does not exist in nbs/')
    secs = {c.get('section') for c in contents or [] if isinstance(c, dict)}
    for s in SECTIONS:
        if not (nbs/s).is_dir(): probs.append(f'sidebar group {s!r}: folder nbs/{s}/ does not exist')
        elif s not in secs: probs.append(f'sidebar group {s!r}: nbs/{s}/ holds no notebook, so the sidebar has no such section')
    return probs, merged


# ------------------------------------------------------------------------------------------------- nb -> markdown
def _src(x): return ''.join(x) if isinstance(x, list) else (x or '')


def cell_options(src):
    "Split Quarto `#|` options off the top of a code cell: (options, code)."
    lines, opts, i = src.splitlines(), {}, 0
    while i < len(lines) and lines[i].startswith('#|'):
        try:
            d = yaml.safe_load(lines[i][2:].strip())
            if isinstance(d, dict): opts.update(d)
        except yaml.YAMLError: pass
        i += 1
    return opts, '\n'.join(lines[i:]).strip('\n')


def _fence(text, info=''):
    n = max([3] + [len(m) + 1 for m in re.findall(r'`{3,}', text)])
    return f"{'`'*n}{info}\n{text.rstrip()}\n{'`'*n}"


def _output_md(o, asis):
    "Markdown of one output, as Quarto writes it."
    t = o.get('output_type')
    if t == 'stream':
        return f"::: {{.cell-output .cell-output-{o.get('name', 'stdout')}}}\n{_fence(_ANSI.sub('', _src(o.get('text'))))}\n:::"
    if t == 'error':
        tb = _ANSI.sub('', '\n'.join(o.get('traceback') or [f"{o.get('ename')}: {o.get('evalue')}"]))
        return f"::: {{.cell-output .cell-output-error}}\n{_fence(tb)}\n:::"
    d = o.get('data') or {}
    if 'text/markdown' in d:
        md = _src(d['text/markdown'])
        return md if asis else f'::: {{.cell-output .cell-output-display}}\n{md}\n:::'
    for mime in ('image/png', 'image/jpeg', 'image/svg+xml'):
        if mime in d:
            v = _src(d[mime])
            if mime == 'image/svg+xml':
                import base64
                v = base64.b64encode(v.encode()).decode()
            img = f'<img src="data:{mime};base64,{v.strip()}">'
            return f'::: {{.cell-output .cell-output-display}}\n```{{=html}}\n{img}\n```\n:::'
    if 'text/html' in d:
        return f"::: {{.cell-output .cell-output-display}}\n```{{=html}}\n{_src(d['text/html'])}\n```\n:::"
    if 'text/latex' in d: return f"::: {{.cell-output .cell-output-display}}\n{_src(d['text/latex'])}\n:::"
    if 'text/plain' in d: return f"::: {{.cell-output .cell-output-display}}\n{_fence(_src(d['text/plain']))}\n:::"
    return ''


def nb_to_markdown(nb):
    "The processed notebook as Quarto-flavoured markdown: (front matter dict, markdown body, markdown-cell sources)."
    fm, parts, mds = {}, [], []
    for c in nb['cells']:
        src = _src(c.get('source'))
        if c['cell_type'] == 'raw':
            m = re.match(r'^---\s*\n(.*?)\n---\s*$', src.strip(), re.DOTALL)
            if m and not fm:
                fm = yaml.safe_load(m.group(1)) or {}
            elif src.strip(): parts.append(src)  # other raw cells pass through, as Quarto does for markdown/html raw
            continue
        if c['cell_type'] == 'markdown':
            parts.append(src); mds.append(src); continue
        opts, code = cell_options(src)
        if str(opts.get('include', True)).lower() == 'false': continue
        echo = str(opts.get('echo', True)).lower() != 'false'
        output = str(opts.get('output', True)).lower()
        cell = []
        if echo and code.strip():
            lang = (c.get('metadata') or {}).get('language', 'python')
            cell.append(_fence(code, f' {{.{lang} .cell-code}}'))
        if output != 'false':
            cell += [s for s in (_output_md(o, output == 'asis') for o in c.get('outputs') or []) if s]
        if not cell: continue
        if output == 'asis' and not echo: parts.append('\n\n'.join(cell))
        else: parts.append('::: {.cell}\n' + '\n\n'.join(cell) + '\n:::')
    return fm, '\n\n'.join(parts) + '\n', mds


# --------------------------------------------------------------------------------------------------------- render
_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$pagetitle$</title>
$if(description-meta)$<meta name="description" content="$description-meta$">$endif$
<style>
body{font-family:system-ui,sans-serif;margin:0;display:flex;line-height:1.5}
nav.sidebar{width:15rem;flex:none;padding:1rem;border-right:1px solid #ddd;font-size:.9rem;min-height:100vh}
nav.sidebar ul{list-style:none;padding-left:.8rem}nav.sidebar a.active{font-weight:bold}
main{max-width:58rem;padding:1rem 2rem;overflow-x:auto}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto}.cell-output pre{background:#fff;border-left:3px solid #ddd}
.cell-output-error pre{border-left-color:#c00}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 6px}
p.subtitle{font-size:1.15rem;color:#555}
img{max-width:100%;height:auto}
</style>
$for(css)$<link rel="stylesheet" href="$css$">
$endfor$
</head><body>
<!--SIDEBAR-->
<main>
<header id="title-block-header"><h1 class="title">$title$</h1>
$if(description)$<p class="subtitle description">$description$</p>$endif$</header>
$if(toc)$<nav id="TOC">$table-of-contents$</nav>$endif$
$body$
</main></body></html>
"""


def pandoc(exe, md_file, html_file, meta, template):
    "Render one markdown file with pandoc (Quarto's engine); math as MathML so pages read offline. Returns stderr."
    meta_file = md_file.with_suffix('.meta.yml')
    meta_file.write_text(yaml.safe_dump(meta, sort_keys=False))
    cmd = [exe, str(md_file), '-f', 'markdown', '-t', 'html5', '-s', '--mathml', '--toc', '--section-divs',
           '--template', str(template), '--metadata-file', str(meta_file), '-o', str(html_file)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode: raise RuntimeError(f'pandoc failed ({r.returncode}): {r.stderr.strip()[:500]}')
    return r.stderr


class _Links(HTMLParser):
    "Collects the ids and the hrefs of a page."
    def __init__(self):
        super().__init__(); self.ids, self.hrefs = set(), []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])
        if tag == "a" and a.get("href") is not None and "sidebar-link" not in (a.get("class") or "") and a.get("aria-hidden") != "true":
            self.hrefs.append(a['href'])


def _sidebar_html(sidebar, page, titles):
    "Sidebar nav for `page` (an output path), from nbdev's sidebar contents, with relative links."
    def rel(target): return os.path.relpath(target, page.parent) if page.parent != Path('.') else str(target)
    def items(cs):
        out = []
        for c in cs or []:
            if isinstance(c, str):
                t = out_name(Path(c))
                cls = 'sidebar-link active' if t == page else 'sidebar-link'
                out.append(f'<li><a class="{cls}" href="{html.escape(rel(t))}">{html.escape(titles.get(t, t.stem))}</a></li>')
            elif isinstance(c, dict):
                out.append(f"<li><strong>{html.escape(str(c.get('section', '')))}</strong><ul>{items(c.get('contents'))}</ul></li>")
        return ''.join(out)
    return f'<nav class="sidebar"><ul>{items(sidebar)}</ul></nav>'


# ---------------------------------------------------------------------------------------------------------- checks
def _strip_code(md):
    md = re.sub(r'^(`{3,}|~{3,}).*?^\1', '', md, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r'`[^`\n]+`', '', md)


def math_problems(mds, page_html):
    "Problems with the `$$` display math of a page's markdown cells against the rendered page."
    probs, n_blocks = [], 0
    for md in mds:
        md = _strip_code(md)
        if md.count('$$') % 2:
            probs.append(f'unbalanced $$ in a markdown cell starting {md.strip()[:60]!r}'); continue
        for m in re.finditer(r'\$\$(.+?)\$\$', md, re.DOTALL):
            n_blocks += 1
            if re.search(r'\n\s*\n', m.group(1)):
                probs.append(f'blank line inside $$...$$ (pandoc/Quarto end the math there): {m.group(1).strip()[:60]!r}')
    n_math = len(re.findall(r'<math[^>]*display="block"', page_html)) + page_html.count('class="math display"')
    if n_math < n_blocks: probs.append(f'{n_blocks} $$ blocks in the notebook but only {n_math} rendered as display math')
    return probs, n_blocks


def traceback_problems(nb):
    "Cells whose outputs hold a Python traceback or an error."
    probs = []
    for i, c in enumerate(nb['cells']):
        for o in c.get('outputs') or []:
            text = _src(o.get('text')) + ''.join(_src(v) for k, v in (o.get('data') or {}).items() if k.startswith('text/'))
            if o.get('output_type') == 'error' or _TB.search(_ANSI.sub('', text + '\n'.join(o.get('traceback') or []))):
                what = o.get('ename') or 'Traceback'
                probs.append(f'cell {i} output holds a Python traceback ({what}): {_src(c.get("source")).strip()[:60]!r}')
                break
    return probs


RESULT_PAGES = ('tutorials/*',)  # pages that must show results: at least one figure and one printed or tabled output


def result_problems(rel, nb):
    "A tutorial page without a figure or without any other output: its notebook was not executed for the site."
    if not any(Path(rel).match(p if p.endswith('.ipynb') else p + '.ipynb') for p in RESULT_PAGES): return []
    outs = [o for c in nb['cells'] for o in (c.get('outputs') or [])]
    has_fig = any('image/png' in (o.get('data') or {}) or 'image/svg+xml' in (o.get('data') or {}) for o in outs)
    has_text = any(o.get('output_type') == 'stream' and o.get('name') == 'stdout' or 'text/html' in (o.get('data') or {})
                   or 'text/plain' in (o.get('data') or {}) for o in outs)
    miss = [w for w, ok in (('figure', has_fig), ('printed result or table', has_text)) if not ok]
    return [f"the page shows no {' and no '.join(miss)}: keep the notebook's outputs (nbdev-test --save) or pass --execute"] if miss else []


def stderr_warnings(nb):
    "stderr outputs shown on the page (warnings printed by the code)."
    out = []
    for c in nb['cells']:
        for o in c.get('outputs') or []:
            if o.get('output_type') == 'stream' and o.get('name') == 'stderr' and _src(o.get('text')).strip():
                lines = _src(o.get('text')).strip().splitlines()
                w = next((l for l in lines if re.search(r'\w*(Warning|Error): ', l)), lines[0])
                out.append('stderr output on the page: ' + w.strip()[:150])
    return out


def link_problems(page, hrefs, site_url, known_pages, page_ids, rendered):
    "Internal links of `page` that do not resolve to a page (and an anchor, where the target page was rendered)."
    probs, warns, n = [], [], 0
    for h in dict.fromkeys(hrefs):
        if site_url and h.startswith(site_url): target = h[len(site_url):].lstrip('/')
        elif re.match(r'^[a-z][a-z0-9+.-]*:', h, re.I) or h.startswith('//'): continue  # external: not checked here
        elif h.startswith('#'): target = str(page) + h
        else: target = os.path.normpath(str(page.parent / h)) if h.split('#')[0] else str(page) + h
        path, _, anchor = target.partition('#')
        path = Path(path or page)
        if path.suffix in ('.ipynb', '.qmd'): path = out_name(path)
        if path.name == '' or str(path) in ('.', ''): path = Path('index.html')
        if path.suffix == '': path = path/'index.html'
        n += 1
        if path not in known_pages: probs.append(f'link {h!r} -> {path}: no such page'); continue
        if anchor and path in rendered and anchor not in page_ids[path]:
            if anchor.startswith('_'):  # nbdev links a backticked private name, which never gets a show_doc heading
                warns.append(f'link to private name {anchor!r} has no anchor (`{anchor}` in prose is linked by nbdev; '
                             'drop the backticks or name the public function)')
            else: probs.append(f'link {h!r} -> {path}#{anchor}: no such anchor')
    return probs, warns, n


# ------------------------------------------------------------------------------------------------------------ main
def run(names=(), out='_docs_offline', force=False, execute_patterns=EXECUTE):
    "Process, render and check the docs; returns a report dict (see `problems`)."
    t0 = time.time()
    os.chdir(ROOT)  # nbdev's config and the notebooks' code expect the project root, as in `nbdev-docs`
    cfg = _cfg()
    nbs = cfg.nbs_path
    out = (ROOT/out).resolve() if not Path(out).is_absolute() else Path(out)
    proc, site = out/'_proc', out
    exe = find_pandoc()
    rels, missing = select(nbs, names)
    report = dict(pages={}, problems=[f'no such notebook: {m}' for m in missing], warnings=[], n_notebooks=len(rels),
                  subset=bool(names))
    if exe is None:
        report['problems'].append('pandoc not found: pip install pypandoc-binary (or apt-get install pandoc)')
        report['fatal'] = True
        return report
    proc.mkdir(parents=True, exist_ok=True)
    stage_config(nbs, proc)
    cprobs, merged = check_config(nbs, proc)
    report['problems'] += [f'config: {p}' for p in cprobs]
    sidebar = ((merged.get('website') or {}).get('sidebar') or {}).get('contents') or []
    site_url = str((merged.get('website') or {}).get('site-url') or '').rstrip('/') + '/'
    t1 = time.time()
    exed = execute(nbs, rels, out/'_exec', execute_patterns, force=force) if execute_patterns else {}
    t_exec = time.time() - t1
    for rel, (e, _) in exed.items():
        if e: report['problems'].append(f'{rel}: {e}')
    srcs = {rel: out/'_exec'/rel for rel, (e, _) in exed.items() if not e}
    t1 = time.time()
    procd = process(nbs, rels, proc, force=force, sources=srcs)
    t_proc = time.time() - t1
    template = proc/'_template.html'
    template.write_text(_TEMPLATE)
    known = {out_name(r) for r in all_notebooks(nbs)}
    css = ((merged.get('format') or {}).get('html') or {}).get('css') or []
    css = [css] if isinstance(css, str) else list(css)
    for c in css:
        if (proc/c).exists(): shutil.copy2(proc/c, site/c)
    pages, titles, ids, hrefs = {}, {}, {}, {}
    for rel in rels:
        page = out_name(rel)
        info = pages[rel] = dict(page=str(page), problems=[], warnings=list(procd[rel][1]), nbdev_seconds=procd[rel][2])
        if procd[rel][0]:
            e = procd[rel][0]
            info['error'] = e
            m = re.match(r'Exception: Error in notebook: .*? in cell (\d+) :\n(.*)\n(\w+: .*)$', e, re.DOTALL)
            short = f'cell {m.group(1)} ({m.group(2).strip().splitlines()[0][:70]!r}...) raised {m.group(3)[:200]}' if m else e[:300]
            info['problems'].append(f'nbdev docs processing fails (nbdev-docs would fail too): {short}')
            (site/page).unlink(missing_ok=True)  # no stale page from an earlier run
            continue
        try:
            nb = json.loads((proc/rel).read_text())
            fm, body, mds = nb_to_markdown(nb)
        except Exception as e:
            info['problems'].append(f'reading the processed notebook failed: {type(e).__name__}: {e}'); continue
        title, desc = str(fm.get('title') or '').strip(), str(fm.get('description') or '').strip()
        if not title: info['problems'].append('no title (the first markdown cell must be `# Title`)')
        if not desc: info['problems'].append('no summary (the title cell needs a `> one-line summary`)')
        if fm.get('output-file') and fm['output-file'] != page.name:
            page = page.with_name(fm['output-file']); info['page'] = str(page)
        titles[page] = title or page.stem
        info['problems'] += traceback_problems(nb) + result_problems(rel, nb)
        info['warnings'] += stderr_warnings(nb)
        md_file = (proc/rel).with_suffix('.md')
        md_file.write_text(body)
        meta = {'title': title or page.stem, 'pagetitle': f"{title} – {(merged.get('website') or {}).get('title', '')}",
                'description': desc, 'css': [os.path.relpath(c, page.parent) for c in css]}
        (site/page).parent.mkdir(parents=True, exist_ok=True)
        try: err = pandoc(exe, md_file, site/page, meta, template)
        except Exception as e:
            info['problems'].append(f'render failed: {e}'); continue
        info['warnings'] += [l.strip() for l in err.splitlines() if l.strip()]
        page_html = (site/page).read_text()
        mp, info['n_math'] = math_problems(mds, page_html)
        info['problems'] += mp
        p = _Links(); p.feed(page_html)
        ids[page], hrefs[page] = p.ids, p.hrefs
        info['rendered'] = True
    rendered = set(ids)
    for rel, info in pages.items():
        page = Path(info['page'])
        if page not in rendered: continue
        lp, lw, info['n_links'] = link_problems(page, hrefs[page], site_url, known, ids, rendered)
        info['problems'] += lp; info['warnings'] += lw
        # offline convenience: point the site's absolute links at the local pages, and add the sidebar
        h = (site/page).read_text()
        up = os.path.relpath('.', page.parent) + '/' if page.parent != Path('.') else ''
        h = h.replace(f'href="{site_url}', f'href="{up}').replace('<!--SIDEBAR-->', _sidebar_html(sidebar, page, titles))
        (site/page).write_text(h)
    report['pages'] = {str(k): v for k, v in pages.items()}
    for rel, info in pages.items():
        report['problems'] += [f'{rel}: {p}' for p in info['problems']]
        report['warnings'] += [f'{rel}: {w}' for w in info['warnings']]
    report['seconds'] = dict(total=round(time.time() - t0, 1), nbdev_processing=round(t_proc, 1), execution=round(t_exec, 1))
    report['executed'] = {str(k): v[1] for k, v in exed.items()}
    report['out'] = str(out)
    (out/'report.json').write_text(json.dumps(report, indent=1, default=str))
    return report


def summary(report, verbose=False):
    "Human-readable summary of a report."
    lines = []
    n_ok = sum(1 for v in report['pages'].values() if v.get('rendered'))
    lines.append(f"docs: {n_ok}/{report['n_notebooks']} notebooks rendered"
                 + (f" into {report.get('out')}" if report.get('out') else '')
                 + (f" in {report['seconds']['total']} s (nbdev processing {report['seconds']['nbdev_processing']} s)"
                    if 'seconds' in report else ''))
    for rel, v in report['pages'].items():
        mark = 'FAIL' if v['problems'] else 'ok  '
        extra = f"links {v.get('n_links', 0)}, $$ blocks {v.get('n_math', 0)}" if v.get('rendered') else 'not rendered'
        extra += f", nbdev {v['nbdev_seconds']} s" if v.get('nbdev_seconds') else ''
        lines.append(f"  {mark} {rel} -> {v['page']} ({extra}{', %d warnings' % len(v['warnings']) if v['warnings'] else ''})")
    if report['warnings'] and verbose:
        lines.append(f"{len(report['warnings'])} warnings:")
        lines += [f'  - {w}' for w in report['warnings']]
    elif report['warnings']: lines.append(f"{len(report['warnings'])} warnings (--verbose lists them)")
    if report['problems']:
        lines.append(f"{len(report['problems'])} problems:")
        lines += [f'  - {p}' for p in report['problems']]
    else: lines.append('no problems')
    return '\n'.join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('notebooks', nargs='*', help='notebooks under nbs/ to check (default: all), e.g. api/00_core index')
    ap.add_argument('--out', default='_docs_offline', help='output folder (default: _docs_offline)')
    ap.add_argument('--force', action='store_true', help='reprocess notebooks even when the cached copy is fresh')
    ap.add_argument('-v', '--verbose', action='store_true', help='list the warnings too')
    ap.add_argument('--execute', nargs='*', default=list(EXECUTE), metavar='GLOB',
                    help='notebooks re-executed (under IN_TEST) into the output folder, e.g. `--execute index tutorials/*`; '
                         'default none: the pages show the committed outputs')
    a = ap.parse_args(argv)
    report = run(a.notebooks, a.out, a.force, a.execute)
    print(summary(report, a.verbose))
    if report.get('fatal'): return 2
    return 1 if report['problems'] else 0


if __name__ == '__main__': sys.exit(main())
