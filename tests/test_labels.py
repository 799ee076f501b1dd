"Cell labels: registration with unlabelled cells, the classifier head's loss and gradient, prediction, config wiring."
import json, warnings
import numpy as np, pandas as pd, pytest, torch
import anndata as ad
import remadom.heads   # registers every head
from remadom.core import InputError, HEADS
from remadom.config import load_config
from remadom.data import register
from remadom.data.registry import Registry
from remadom.data.mock import simulate
from remadom.heads.base import toy_context
from remadom.heads.classifier import ClassifierHead, predict_labels, label_probabilities, weighted_ce
from remadom.model import MosaicVAE
from remadom.align import build_alignment


@pytest.fixture(scope='module')
def sim():
    m = simulate('bridge', n_cells=300, modalities={'rna': 40, 'adt': 10}, paired_fraction=0.5, seed=1)
    obs = m.obs.copy()
    lab = obs['cell_type'].astype(object)
    lab[~obs['has_rna'].to_numpy()] = np.nan                       # ADT-only cells: NaN
    lab[obs.index[:10]] = 'unknown'                                # and ten explicit 'unknown'
    obs['lab'] = lab; m.obs = obs
    return m


def test_register_labels(sim):
    reg = register(sim, batch_key='batch', label_key='lab')
    lab = sim.obs['lab'].reindex(reg.obs_names)
    want = lab.notna().to_numpy() & (lab.astype(str) != 'unknown').to_numpy()
    assert ((reg.codes['label'] >= 0) == want).all()
    assert 'unknown' not in reg.covariates['label'].categories
    cats = np.asarray(reg.covariates['label'].categories)
    assert (cats[reg.codes['label'][want]] == lab[want].astype(str).to_numpy()).all()
    r2 = Registry.from_dict(json.loads(json.dumps(reg.to_dict())))
    assert (r2.codes['label'] == reg.codes['label']).all() and r2.covariates['label'] == reg.covariates['label']
    assert sim.obs['lab'].isna().sum() > 0                         # the user's column is not changed


def test_register_no_labels_and_old_dicts(sim):
    reg = register(sim, batch_key='batch')
    assert 'label' not in reg.codes and 'label' not in reg.covariates
    d = register(sim, batch_key='batch', label_key='lab').to_dict(include_obs=False)
    d['covariates'].pop('label')
    assert 'label' not in Registry.from_dict(d).covariates


def test_reference_labels(sim):
    reg = register(sim, batch_key='batch', label_key='lab')
    q = sim['adt'][:5].copy(); q.obs['batch'] = sim.obs['batch'].reindex(q.obs_names).to_numpy()
    q.obs['lab'] = ['type_0', 'new_type', np.nan, 'unknown', 'type_1']
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        qr = register({'adt': q}, batch_key='batch', label_key='lab', reference=reg)
    assert qr.covariates['label'].categories == reg.covariates['label'].categories
    cats = list(reg.covariates['label'].categories)
    assert qr.codes['label'].tolist() == [cats.index('type_0'), -1, -1, -1, cats.index('type_1')]
    assert any('new_type' in str(x.message) for x in w)
    assert (register({'adt': q}, batch_key='batch', reference=reg).codes['label'] == -1).all()


def test_register_label_errors(sim):
    with pytest.raises(InputError, match="obs key 'labl' not found"): register(sim, label_key='labl')
    s = sim.copy(); o = s.obs.copy(); o['lab'] = np.nan; s.obs = o
    with pytest.raises(InputError, match="no cell has a label"): register(s, label_key='lab')


def test_unlabelled_zero_loss_and_gradient():
    torch.manual_seed(0)
    z = torch.randn(50, 4, requires_grad=True)
    y = torch.randint(0, 3, (50,)); y[::3] = -1
    h = ClassifierHead(['a', 'b', 'c'], dropout=0.)
    loss, _ = h(z, toy_context(z, label=y)); loss.backward()
    assert z.grad[y < 0].abs().sum() == 0 and z.grad[y >= 0].abs().sum() > 0
    # changing the unlabelled cells' latents does not change the loss
    z2 = z.detach().clone(); z2[y < 0] += 100.
    assert torch.allclose(h(z2, toy_context(z2, label=y))[0], loss.detach())
    # a batch without labels: loss 0, gradient 0, finite
    zz = torch.randn(8, 4, requires_grad=True)
    l0, _ = h(zz, toy_context(zz, label=torch.full((8,), -1))); l0.backward()
    assert float(l0.detach()) == 0. and zz.grad.abs().sum() == 0


def test_weighted_ce_matches_cross_entropy():
    lg = torch.randn(20, 4); y = torch.randint(0, 4, (20,))
    w = torch.tensor([1., 2., 3., 4.])
    assert torch.allclose(weighted_ce(lg, y)[0], torch.nn.functional.cross_entropy(lg, y))
    assert torch.allclose(weighted_ce(lg, y, w)[0], torch.nn.functional.cross_entropy(lg, y, weight=w))


def test_learns_separable_toy():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(400) % 4
    z = torch.nn.functional.one_hot(y, 4).float() * 4 + 0.5 * torch.randn(400, 4, generator=g)
    ylab = torch.where(torch.arange(400) % 7 < 4, y, -1)    # every class has labelled and unlabelled cells
    torch.manual_seed(0); h = ClassifierHead(list('abcd'), dropout=0., experts=False)
    ctx = toy_context(z, label=ylab); h(z, ctx)
    opt = torch.optim.Adam(h.parameters(), lr=1e-2)
    for _ in range(100): opt.zero_grad(); h(z, ctx)[0].backward(); opt.step()
    assert (h.net(z).argmax(1) == y)[ylab < 0].float().mean() > 0.98


def test_predict_probabilities_and_threshold(sim):
    reg = register(sim, batch_key='batch', label_key='lab')
    torch.manual_seed(0)
    model = MosaicVAE.from_registry(reg, n_latent=4, hidden=[16])
    head = ClassifierHead.from_registry(reg)
    p = label_probabilities(model, head, reg)
    assert p.shape == (reg.n_obs, reg.n_cats('label')) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert list(p.index) == list(reg.obs_names)
    top = p.max(1).to_numpy()
    t = float(np.median(top))
    pl = predict_labels(model, head, reg, threshold=t)
    assert ((pl['label'] == 'unassigned').to_numpy() == (top < t)).all()
    assert (pl['label'][top >= t].astype(str).to_numpy() == np.asarray(p.columns)[p.to_numpy().argmax(1)][top >= t]).all()
    with pytest.raises(InputError, match='threshold'): predict_labels(model, head, reg, threshold=-0.1)


def test_config_builds_the_head(sim):
    reg = register(sim, batch_key='batch', label_key='lab')
    assert 'classifier' in HEADS
    cfg = load_config({'alignment': {'heads': [{'name': 'classifier', 'weight': 2., 'params': {'class_weights': 'balanced'}}]}})
    heads, providers = build_alignment(cfg, reg)
    h, w = heads['classifier']
    assert isinstance(h, ClassifierHead) and w(0) == 2. and not providers
    n_k = np.bincount(reg.codes['label'][reg.codes['label'] >= 0], minlength=reg.n_cats('label'))
    assert np.allclose(h.weights.numpy(), n_k.sum() / (len(n_k) * n_k), rtol=1e-5)
    with pytest.raises(InputError, match='register the data with label_key'):
        build_alignment(cfg, register(sim, batch_key='batch'))
    with pytest.raises(InputError, match="params.class_weight is not a parameter"):
        load_config({'alignment': {'heads': [{'name': 'classifier', 'params': {'class_weight': 'balanced'}}]}})


def test_shipped_config_loads():
    cfg = load_config('configs/label_transfer.yaml')
    assert [h.name for h in cfg.alignment.heads] == ['classifier']
