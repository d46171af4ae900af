"""The official USRNet: its variant, loading the authors' state dict, and a forward pass written
here from the USRNet equations on the official tensors."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spadelib.checkpoints import CheckpointError
from spadelib.data import SRMeasurement
from spadelib.kernels import gaussian_kernel, motion_kernel
from spadelib.models import build
from spadelib.models.usrnet import USRNet
from spadelib.models.usrnet_official import (load_usrnet_official, official_config,
                                             official_state_dict_map)
from spadelib.physics.sr import SuperResolution
from spadelib.pruning import prune

CHANNELS, NB, ITERS, HIDDEN = (8, 16, 32, 64), 2, 4, 12
PAPER_COUNTS = {0.05: 15_314_620, 0.1: 13_730_964, 0.2: 10_837_246, 0.4: 6_094_762}


def official_shapes(channels=CHANNELS, nb=NB, iters=ITERS, hidden=HIDDEN, cin=4, cout=3):
    """Every tensor of the authors' USRNet, by its official name (our own listing of it)."""
    c = channels
    shapes = {"p.m_head.weight": (c[0], cin, 3, 3)}

    def res(prefix, ch, blocks):
        for b in blocks:
            shapes[f"{prefix}.{b}.res.0.weight"] = (ch, ch, 3, 3)
            shapes[f"{prefix}.{b}.res.2.weight"] = (ch, ch, 3, 3)

    for i in (1, 2, 3):
        res(f"p.m_down{i}", c[i - 1], range(nb))
        shapes[f"p.m_down{i}.{nb}.weight"] = (c[i], c[i - 1], 2, 2)        # Conv2d: out, in
    res("p.m_body", c[3], range(nb))
    for i in (3, 2, 1):
        shapes[f"p.m_up{i}.0.weight"] = (c[i], c[i - 1], 2, 2)             # ConvTranspose: in, out
        res(f"p.m_up{i}", c[i - 1], range(1, nb + 1))
    shapes["p.m_tail.weight"] = (cout, c[0], 3, 3)
    shapes.update({"h.mlp.0.weight": (hidden, 2, 1, 1), "h.mlp.0.bias": (hidden,),
                   "h.mlp.2.weight": (hidden, hidden, 1, 1), "h.mlp.2.bias": (hidden,),
                   "h.mlp.4.weight": (2 * iters, hidden, 1, 1), "h.mlp.4.bias": (2 * iters,)})
    return shapes


def official_state_dict(seed=0, **sizes):
    """Random weights in the official naming, scaled so that 4 iterations stay of order one."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape in official_shapes(**sizes).items():
        fan_in = shape[0] if name.startswith("p.m_up") and name.endswith(".0.weight") else \
            (shape[1] * shape[2] * shape[3] if len(shape) == 4 else shape[0])
        scale = 0.5 if ".res.2." in name else 1.0                  # tame the residual sums
        sd[name] = scale * torch.randn(shape, generator=g) / fan_in ** 0.5
    sd["h.mlp.4.bias"] = torch.linspace(-2.0, 1.0, len(sd["h.mlp.4.bias"]))
    return sd


# ------------------------------------------------------------------ reference from the equations
def ref_prior(sd, x, nb):
    """The official ResUNet: replication pad to a multiple of 8, head, 3 x (nb residual blocks,
    stride-2 2x2 conv), body, 3 x (add the skip, stride-2 2x2 transposed conv, nb residual
    blocks), add the first skip, tail, crop."""
    h, w = x.shape[-2:]
    x = F.pad(x, (0, -w % 8, 0, -h % 8), mode="replicate")

    def res(t, prefix):
        r = F.conv2d(t, sd[f"{prefix}.res.0.weight"], padding=1)
        return t + F.conv2d(F.relu(r), sd[f"{prefix}.res.2.weight"], padding=1)

    feats = [F.conv2d(x, sd["p.m_head.weight"], padding=1)]
    for i in (1, 2, 3):
        t = feats[-1]
        for b in range(nb):
            t = res(t, f"p.m_down{i}.{b}")
        feats.append(F.conv2d(t, sd[f"p.m_down{i}.{nb}.weight"], stride=2))
    t = feats[3]
    for b in range(nb):
        t = res(t, f"p.m_body.{b}")
    for i in (3, 2, 1):
        t = F.conv_transpose2d(t + feats[i], sd[f"p.m_up{i}.0.weight"], stride=2)
        for b in range(1, nb + 1):
            t = res(t, f"p.m_up{i}.{b}")
    t = F.conv2d(t + feats[0], sd["p.m_tail.weight"], padding=1)
    return t[..., :h, :w]


def ref_hypa(sd, sigma, s):
    u = torch.stack([sigma, torch.full_like(sigma, float(s))], dim=1).view(-1, 2, 1, 1)
    t = F.relu(F.conv2d(u, sd["h.mlp.0.weight"], sd["h.mlp.0.bias"]))
    t = F.relu(F.conv2d(t, sd["h.mlp.2.weight"], sd["h.mlp.2.bias"]))
    return F.softplus(F.conv2d(t, sd["h.mlp.4.weight"], sd["h.mlp.4.bias"])) + 1e-6


def ref_usrnet(sd, m, nb, n):
    """x_0 = nearest upsampling; z = data step(x, alpha_k); x = prior([z, beta_k])."""
    s, lr = m.scale, m.lr
    ab = ref_hypa(sd, m.sigma, s)
    x = lr.repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1)
    physics = SuperResolution(m.kernel, s)
    for k in range(n):
        x = physics.data_step(x, lr, ab[:, k:k + 1])
        beta = ab[:, n + k:n + k + 1].expand(-1, 1, *x.shape[-2:])
        x = ref_prior(sd, torch.cat([x, beta], dim=1), nb)
    return x


def measurement(dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    kernel = torch.stack([gaussian_kernel(1.6, 0.8, 30.0), motion_kernel(3)])
    return SRMeasurement(lr=torch.rand(2, 3, 10, 11, generator=g, dtype=dtype),
                         kernel=kernel.to(dtype), scale=3,
                         sigma=torch.tensor([0.0, 7.65 / 255], dtype=dtype))


@pytest.fixture
def saved(tmp_path):
    sd = official_state_dict()
    path = tmp_path / "usrnet.pth"
    torch.save(sd, path)
    return sd, path


def module_of(net, name):
    """The parameter an official name must land in, found by walking our modules by hand."""
    parts = name.split(".")
    if parts[0] == "h":
        return getattr(net.hypa.mlp[int(parts[2])], parts[3])
    p, where = net.prior, parts[1]
    if where in ("m_head", "m_tail"):
        return (p.head if where == "m_head" else p.tail).weight
    if where == "m_body":
        return p.body[int(parts[2])].body[int(parts[4])].weight
    level = int(where[-1])
    seq = p.down[level - 1] if where.startswith("m_down") else p.up[3 - level]
    layer = seq[int(parts[2])]
    return layer.weight if parts[3] == "weight" else layer.body[int(parts[4])].weight


# ------------------------------------------------------------------ loading
def test_every_official_tensor_lands_in_its_module(saved):
    sd, path = saved
    net = load_usrnet_official(path)
    assert isinstance(net, USRNet) and net.variant == "official" and not net.training
    assert net.prior.channels == CHANNELS and net.prior.blocks == NB and net.iters == ITERS
    assert net.hypa.mlp[0].out_channels == HIDDEN
    assert len(sd) == len(net.state_dict())
    for name, tensor in sd.items():
        assert torch.equal(module_of(net, name).detach(), tensor), name
    assert official_config(sd) == {"channels": CHANNELS, "blocks": NB, "iters": ITERS,
                                   "hypa_hidden": HIDDEN}
    names = official_state_dict_map(net)
    assert set(names) == set(sd) and sorted(names.values()) == sorted(net.state_dict())
    assert names["p.m_up3.0.weight"] == "prior.up.0.0.weight"      # m_up3 is the deepest


def test_forward_matches_the_equations(saved):
    sd, path = saved
    net = load_usrnet_official(path).double()
    m = measurement()
    sd64 = {k: v.double() for k, v in sd.items()}
    with torch.no_grad():
        out = net(m)
        ref = ref_usrnet(sd64, m, NB, ITERS)
        alphas, betas = net.hyperparameters(m)
    assert out.shape == (2, 3, 30, 33)                     # 30 x 33: replication padding used
    assert ref.abs().mean() > 0.05 and torch.isfinite(ref).all()
    assert torch.allclose(out, ref, rtol=1e-9, atol=1e-10)
    ab = ref_hypa(sd64, m.sigma, 3).flatten(1)
    assert torch.allclose(alphas, ab[:, :ITERS]) and torch.allclose(betas, ab[:, ITERS:])
    # the zoo variant with the same weights is another network (residual, normalised inputs)
    zoo = USRNet(CHANNELS, NB, ITERS, HIDDEN).double()
    zoo.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert (zoo(m) - ref).abs().max() > 1e-2


def test_wrapped_state_dict_and_a_mapping(saved):
    sd, path = saved
    wrapped = path.with_name("wrapped.pth")
    torch.save({"params": {"module." + k: v for k, v in sd.items()}}, wrapped)
    a, b = load_usrnet_official(wrapped), load_usrnet_official(sd)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_missing_and_unexpected_keys_are_named(saved, tmp_path):
    sd, path = saved
    bad = dict(sd)
    del bad["p.m_up2.1.res.0.weight"]
    bad["p.m_extra.weight"] = torch.zeros(1)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as err:
        load_usrnet_official(tmp_path / "bad.pth")
    msg = str(err.value)
    assert str(tmp_path / "bad.pth") in msg
    assert "1 missing key(s): p.m_up2.1.res.0.weight" in msg
    assert "1 unexpected key(s): p.m_extra.weight" in msg
    # many missing keys: the first few and the count
    fewer = {k: v for k, v in sd.items() if not k.startswith("p.m_body")}
    with pytest.raises(CheckpointError, match=r"4 missing key\(s\): p\.m_body\.0\.res\.0\.weight"):
        load_usrnet_official(fewer)
    fewer = {k: v for k, v in sd.items() if not k.startswith("p.m_up")}
    with pytest.raises(CheckpointError, match=r"15 missing key\(s\): .*\(10 more\)"):
        load_usrnet_official(fewer)


def test_shape_mismatch_names_the_key_and_both_shapes(saved, tmp_path):
    sd, _ = saved
    bad = {**sd, "p.m_body.1.res.2.weight": torch.zeros(64, 64, 1, 1)}
    torch.save(bad, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError) as err:
        load_usrnet_official(tmp_path / "shape.pth")
    msg = str(err.value)
    assert str(tmp_path / "shape.pth") in msg
    assert "p.m_body.1.res.2.weight is (64, 64, 1, 1), the network needs (64, 64, 3, 3)" in msg
    # the small file at the paper's size: every conv is mis-shaped
    with pytest.raises(CheckpointError, match=r"p\.m_head\.weight is \(8, 4, 3, 3\), the "
                                              r"network needs \(64, 4, 3, 3\).*more"):
        load_usrnet_official(sd, preset="paper")


def test_unusable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_usrnet_official(tmp_path / "nowhere.pth")
    text = tmp_path / "notes.pth"
    text.write_text("not a torch file")
    with pytest.raises(CheckpointError, match="notes.pth is not a PyTorch weights file"):
        load_usrnet_official(text)
    with pytest.raises(CheckpointError, match="is a folder"):
        load_usrnet_official(tmp_path)
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="list.pth holds a list, not a state dict"):
        load_usrnet_official(tmp_path / "list.pth")
    torch.save({"a": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match=r"other.pth is not an official USRNet .*'p\.m_head"):
        load_usrnet_official(tmp_path / "other.pth")
    grey = official_state_dict()
    grey["p.m_head.weight"] = grey["p.m_head.weight"][:, :2]
    with pytest.raises(CheckpointError, match="2-channel input"):
        load_usrnet_official(grey)
    nan = official_state_dict()
    nan["p.m_tail.weight"][0, 0, 0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="p.m_tail.weight holds NaN"):
        load_usrnet_official(nan)
    with pytest.raises(TypeError, match="path or a state dict"):
        load_usrnet_official(3)


# ------------------------------------------------------------------ the paper's size
def test_paper_size_official_variant_and_its_pruned_counts():
    """The official variant has the paper's 17,016,016 parameters and SPADE prunes it to the
    paper's counts (the widths, not the weights, fix the counts: they are exact)."""
    torch.manual_seed(0)
    net = build("usrnet", "paper", variant="official")
    assert net.variant == "official" and net.prior.tail.weight.abs().sum() > 0
    assert sum(p.numel() for p in net.parameters()) == 17_016_016
    for ratio, expected in PAPER_COUNTS.items():
        _, report = prune(net, ratio)
        assert abs(report.params_after - expected) <= 1e-3 * expected
        assert report.params_after == expected
    # a file of the released size is read at that size, without a preset
    sd = official_state_dict(channels=(64, 128, 256, 512), nb=2, iters=8, hidden=64)
    assert official_config(sd) == {"channels": (64, 128, 256, 512), "blocks": 2, "iters": 8,
                                   "hypa_hidden": 64}
    loaded = load_usrnet_official(sd, preset="paper")
    assert sum(p.numel() for p in loaded.parameters()) == 17_016_016
    assert torch.equal(loaded.prior.up[0][0].weight, sd["p.m_up3.0.weight"])


def test_official_variant_is_not_residual_and_reads_raw_inputs():
    net = USRNet(CHANNELS, 1, 2, variant="official")
    assert "variant='official'" in repr(net) and net.hypa.eps == 1e-6
    u = net.hypa_input(torch.tensor([0.0, 0.03]), 3)
    assert torch.equal(u.flatten(1), torch.tensor([[0.0, 3.0], [0.03, 3.0]]))

    class Zero(nn.Module):
        def forward(self, x):
            return torch.zeros_like(x[:, :3])

    net.prior = Zero()
    with torch.no_grad():
        assert torch.count_nonzero(net(measurement(torch.float32))) == 0
