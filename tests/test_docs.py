"""The documentation renders offline and passes scripts/check_docs.py.

A small subset of notebooks (no real-data cells, so a few seconds) is processed by nbdev and rendered with pandoc;
`REMADOM_DOCS_ALL=1` checks every notebook (a minute or more: nbdev executes the real-data cells that import).
The detectors of the checker, and math through pandoc, are tested on small made-up pages, so that each check is
known to fail when it should.
"""
import importlib.util, json, os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBSET = ['index', 'explanations/architecture', 'api/00_core']  # home page, prose page, API page with show_doc

spec = importlib.util.spec_from_file_location('check_docs', ROOT/'scripts'/'check_docs.py')
cd = importlib.util.module_from_spec(spec); spec.loader.exec_module(cd)


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    if cd.find_pandoc() is None: pytest.fail('no pandoc: `pip install pypandoc-binary` (a dev dependency)')
    out = tmp_path_factory.mktemp('docs')
    names = [] if os.environ.get('REMADOM_DOCS_ALL') else SUBSET
    r = subprocess.run([sys.executable, str(ROOT/'scripts'/'check_docs.py'), *names, '--out', str(out), '--execute'],  # no execution: fast
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    rep = json.loads((out/'report.json').read_text())
    rep['stdout'], rep['out'] = r.stdout, out
    return rep


def test_pages_render_and_pass(report):
    "Every selected notebook is processed by nbdev, rendered, and has a title, a summary, good links and math."
    assert report['n_notebooks'] >= (17 if not report['subset'] else len(SUBSET))
    bad = {k: v['problems'] for k, v in report['pages'].items() if v['problems'] or not v.get('rendered')}
    assert not bad, report['stdout']
    out = report['out']
    core = (out/'api'/'core.html').read_text()
    assert '<h1 class="title">core</h1>' in core and 'id="modalityspec"' in core  # show_doc heading = nbdev's anchor
    assert 'href="../api/core.html#modalityspec"' in core                          # site links made local
    assert 'show_doc(' not in core and '#| export' not in core                     # directives were applied


def test_quarto_config(report):
    "nbs/_quarto.yml plus nbdev's nbdev.yml and sidebar.yml parse and make a website config."
    cfg = [p for p in report['problems'] if p.startswith('config:') and 'sidebar group' not in p]
    assert not cfg, cfg
    proc = report['out']/'_proc'
    import yaml
    q = yaml.safe_load((proc/'_quarto.yml').read_text())
    assert q['project']['type'] == 'website'
    for m in q['metadata-files']: assert isinstance(yaml.safe_load((proc/m).read_text()), dict), m
    assert yaml.safe_load((proc/'nbdev.yml').read_text())['project']['output-dir'] == '_docs'


def test_sidebar_groups(report):
    "The sidebar groups API / Tutorials / Explanations are folders of nbs/ holding notebooks."
    assert not [p for p in report['problems'] if 'sidebar group' in p], report['stdout']


def test_nothing_written_to_sources():
    "The check writes only into its output folder: nbdev's nbdev.yml and sidebar.yml do not appear in nbs/."
    r = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=all', '--', 'nbs/nbdev.yml', 'nbs/sidebar.yml'],
                       capture_output=True, text=True, cwd=ROOT)
    if r.returncode: pytest.skip('not a git checkout')
    assert r.stdout.strip() == ''


# ------------------------------------------------------------------------- the detectors fail when they should
def test_cell_options_and_markdown():
    opts, code = cd.cell_options('#| echo: false\n#| output: asis\nshow_doc(f)')
    assert opts == {'echo': False, 'output': 'asis'} and code == 'show_doc(f)'
    md_out = {'output_type': 'execute_result', 'data': {'text/markdown': '### f\n\ndoc', 'text/plain': 'f'}}
    nb = {'cells': [
        {'cell_type': 'raw', 'source': '---\ntitle: T\ndescription: D\n---\n'},
        {'cell_type': 'code', 'source': '#| echo: false\n#| output: asis\nshow_doc(f)', 'outputs': [md_out]},
        {'cell_type': 'code', 'source': '#| include: false\nsecret()', 'outputs': []},
        {'cell_type': 'code', 'source': 'x = 1', 'outputs': [{'output_type': 'stream', 'name': 'stdout', 'text': '1\n'}]}]}
    fm, body, mds = cd.nb_to_markdown(nb)
    assert fm == {'title': 'T', 'description': 'D'} and mds == []
    assert body.startswith('### f\n\ndoc') and 'show_doc' not in body and 'secret' not in body
    assert '.cell-output-stdout' in body and 'x = 1' in body


def test_traceback_detected():
    err = {'output_type': 'error', 'ename': 'ValueError', 'evalue': 'x', 'traceback': ['ValueError: x']}
    tb = {'output_type': 'stream', 'name': 'stderr', 'text': 'Traceback (most recent call last):\n  File "a"\nKeyError: 1'}
    ok = {'output_type': 'stream', 'name': 'stdout', 'text': 'all fine'}
    nb = {'cells': [{'cell_type': 'code', 'source': s, 'outputs': [o]} for s, o in [('a', err), ('b', tb), ('c', ok)]]}
    probs = cd.traceback_problems(nb)
    assert len(probs) == 2 and 'ValueError' in probs[0] and "'b'" in probs[1]


def test_tutorial_without_results_detected():
    "A tutorial page with no figure (its notebook was not executed) is a problem; an API page is not checked for it."
    fig = {'output_type': 'display_data', 'data': {'image/png': 'iVBOR', 'text/plain': '<Figure>'}}
    txt = {'output_type': 'stream', 'name': 'stdout', 'text': 'NMI 0.81'}
    nb = lambda *outs: {'cells': [{'cell_type': 'code', 'source': 'x', 'outputs': list(outs)}]}
    assert cd.result_problems('tutorials/01_paired.ipynb', nb(fig, txt)) == []
    assert 'shows no figure:' in cd.result_problems('tutorials/01_paired.ipynb', nb(txt))[0]
    assert 'printed result' in cd.result_problems('tutorials/01_paired.ipynb', nb())[0]
    assert cd.result_problems('api/00_core.ipynb', nb()) == []


def test_math_checked():
    ok_html = '<math display="block"></math>'
    assert cd.math_problems(['$$a^2$$ and `$$` in code'], ok_html) == ([], 1)
    assert 'unbalanced' in cd.math_problems(['$$a^2 $ b'], ok_html)[0][0]
    probs, n = cd.math_problems(['$$a\n\nb$$'], '')
    assert n == 1 and any('blank line' in p for p in probs) and any('rendered' in p for p in probs)


def test_links_checked():
    from pathlib import Path as P
    site = 'https://x.io/lib/'
    known = {P('index.html'), P('api/core.html')}
    ids = {P('api/core.html'): {'foo'}, P('index.html'): set()}
    hrefs = [site + 'api/core.html#foo', '../index.html', '00_core.ipynb#foo', 'https://github.com/a', '#foo',
             site + 'api/nope.html', site + 'api/core.html#bar', 'core.html#_private']
    probs, warns, n = cd.link_problems(P('api/core.html'), hrefs, site, known, ids, set(ids))
    assert n == 7 and len(probs) == 2 and 'nope.html' in probs[0] and '#bar' in probs[1]
    assert len(warns) == 1 and '_private' in warns[0]


def test_math_renders_through_pandoc(tmp_path):
    "A notebook's $$ block and inline math come out of pandoc as MathML; a broken block is reported."
    exe = cd.find_pandoc()
    if exe is None: pytest.fail('no pandoc: `pip install pypandoc-binary` (a dev dependency)')
    (tmp_path/'t.html').write_text(cd._TEMPLATE)
    good = 'The fused precision\n\n$$\\lambda = \\lambda_0 + \\sum_m M_m / \\sigma_m^2$$\n\nwith $\\lambda_0 = 1$.'
    bad = 'Broken:\n\n$$a = b\n\nc = d$$'
    for name, md, n_probs in [('good', good, 0), ('bad', bad, 2)]:
        nb = {'cells': [{'cell_type': 'raw', 'source': '---\ntitle: T\ndescription: D\n---'},
                        {'cell_type': 'markdown', 'source': md}]}
        fm, body, mds = cd.nb_to_markdown(nb)
        (tmp_path/f'{name}.md').write_text(body)
        err = cd.pandoc(exe, tmp_path/f'{name}.md', tmp_path/f'{name}.html', fm, tmp_path/'t.html')
        page = (tmp_path/f'{name}.html').read_text()
        probs, n = cd.math_problems(mds, page)
        assert n == 1 and len(probs) == n_probs, (probs, err)
        if name == 'good': assert page.count('<math') == 2 and '<h1 class="title">T</h1>' in page
