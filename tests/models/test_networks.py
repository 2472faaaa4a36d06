import pytest
import torch
import torch.nn as nn

from reenact.aus.names import NUM_AUS
from reenact.models.networks import (CRITIC_CONFIGS, GENERATOR_CONFIGS, Critic, CriticConfig,
                                     GanGenerator, Generator, GeneratorConfig, count_cost,
                                     generator_cost)
from reenact.models.protocol import FaceGenerator
from reenact.models.protocol import GeneratorOutput, blend


@pytest.mark.parametrize("name", list(GENERATOR_CONFIGS))
def test_generator_shapes_and_ranges(name, device):
    cfg = GENERATOR_CONFIGS[name]
    net = Generator(cfg).to(device)
    s = cfg.image_size
    x = torch.rand(2, 3, s, s, device=device) * 2 - 1
    color, att = net(x, torch.rand(2, NUM_AUS, device=device))
    assert color.shape == (2, 3, s, s) and att.shape == (2, 1, s, s)
    assert color.min() >= -1 and color.max() <= 1
    assert att.min() >= 0 and att.max() <= 1
    assert torch.isfinite(color).all() and torch.isfinite(att).all()


@pytest.mark.parametrize("name", list(CRITIC_CONFIGS))
def test_critic_shapes(name, device):
    cfg = CRITIC_CONFIGS[name]
    net = Critic(cfg).to(device)
    s = cfg.image_size
    scores, aus = net(torch.rand(3, 3, s, s, device=device) * 2 - 1)
    side = s // 2 ** cfg.n_layers
    assert scores.shape == (3, 1, side, side)
    assert aus.shape == (3, NUM_AUS)
    assert torch.isfinite(scores).all() and torch.isfinite(aus).all()
    # the AU head's kernel covers the whole final map: image_size / 2**n_layers
    assert net.au_head.kernel_size == (side, side)


def test_paper_critic_matches_the_paper():
    net = Critic(CRITIC_CONFIGS["paper"])
    convs = [m for m in net.trunk if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1024, 2048]
    assert all(c.stride == (2, 2) and c.kernel_size == (4, 4) for c in convs)
    assert all(m.negative_slope == 0.01 for m in net.trunk if isinstance(m, nn.LeakyReLU))
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) for m in net.modules())
    assert net.au_head.kernel_size == (2, 2) and net.realism_head.kernel_size == (3, 3)


def test_paper_generator_parameter_count_by_hand():
    # Counted from the paper's layer list: conv7 20->64; conv4 64->128, 128->256 (+IN each);
    # 6 x (2 conv3 256->256 + 2 IN); convT4 256->128, 128->64 (+IN); heads conv7 64->3, 64->1.
    inorm = lambda c: 2 * c
    expected = (20 * 64 * 49 + inorm(64)
                + 64 * 128 * 16 + inorm(128) + 128 * 256 * 16 + inorm(256)
                + 6 * (2 * 256 * 256 * 9 + 2 * inorm(256))
                + 256 * 128 * 16 + inorm(128) + 128 * 64 * 16 + inorm(64)
                + 64 * 3 * 49 + 64 * 1 * 49)
    assert sum(p.numel() for p in Generator(GENERATOR_CONFIGS["paper"]).parameters()) == expected


def test_light_is_several_times_cheaper():
    paper, light = generator_cost(GENERATOR_CONFIGS["paper"]), generator_cost(GENERATOR_CONFIGS["light"])
    assert 4 <= paper.macs / light.macs <= 8


def test_variants_keep_shapes():
    for cfg in (GeneratorConfig(image_size=32, width=8, n_res_blocks=2, separable_res=True),
                GeneratorConfig(image_size=32, width=8, n_res_blocks=1, upsample="resize_conv"),
                GeneratorConfig(image_size=48, width=4, n_sampling=3, n_res_blocks=1)):
        s = cfg.image_size
        color, att = Generator(cfg)(torch.zeros(1, 3, s, s), torch.zeros(1, NUM_AUS))
        assert color.shape == (1, 3, s, s) and att.shape == (1, 1, s, s)


def test_bad_configs_and_inputs_are_refused():
    with pytest.raises(ValueError, match="upsample"):
        GeneratorConfig(upsample="pixelshuffle")
    with pytest.raises(ValueError, match="multiple"):
        GeneratorConfig(image_size=100, n_sampling=3)
    with pytest.raises(ValueError, match="multiple"):
        CriticConfig(image_size=96, n_layers=6)
    net = Generator(GENERATOR_CONFIGS["tiny"])
    with pytest.raises(ValueError, match="aus must be"):
        net(torch.zeros(1, 3, 64, 64), torch.zeros(1, 12))


def test_attention_one_returns_the_input_exactly(rng):
    x = torch.from_numpy(rng.uniform(-1, 1, (2, 3, 16, 16)).astype("float32"))
    c = torch.from_numpy(rng.uniform(-1, 1, (2, 3, 16, 16)).astype("float32"))
    ones, zeros = torch.ones(2, 1, 16, 16), torch.zeros(2, 1, 16, 16)
    assert torch.equal(blend(x, c, ones), x)
    assert torch.equal(GeneratorOutput(c, ones).blend(x), x)
    assert torch.equal(blend(x, c, zeros), c)


def test_attention_one_through_the_network():
    # A head driven to saturation (sigmoid(+big) == 1.0 in float32) must leave the crop untouched.
    net = Generator(GENERATOR_CONFIGS["tiny"])
    with torch.no_grad():
        net.attention_head.weight.fill_(0.0)
        net.attention_head.weight[:, :, 3, 3] = 1e4
        net.up[-1].norm.bias.fill_(10.0)   # ReLU(IN(...)) > 0 everywhere before the head
        net.up[-1].norm.weight.fill_(0.0)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    color, att = net(x, torch.rand(2, NUM_AUS))
    assert torch.equal(att, torch.ones_like(att))
    assert torch.equal(blend(x, color, att), x)


def test_wrapper_speaks_the_0_to_5_scale():
    net = Generator(GENERATOR_CONFIGS["tiny"]).eval()
    wrapped = GanGenerator(net)
    assert isinstance(wrapped, FaceGenerator) and wrapped.image_size == 64
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    aus05 = torch.rand(2, NUM_AUS) * 5
    out = wrapped(x, aus05, landmarks=torch.zeros(2, 478, 2), source_aus=torch.zeros(2, NUM_AUS))
    color, att = net(x, aus05 / 5)
    assert torch.equal(out.color, color) and torch.equal(out.attention, att)


def test_mac_counter_by_hand():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_cost(conv, torch.zeros(1, 3, 10, 10)).macs == 10 * 10 * 8 * 3 * 9
    convt = nn.ConvTranspose2d(4, 2, 4, 2, 1)
    assert count_cost(convt, torch.zeros(1, 4, 5, 5)).macs == 5 * 5 * 4 * 2 * 16
    dw = nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False)
    assert count_cost(dw, torch.zeros(1, 6, 4, 4)).macs == 4 * 4 * 6 * 9
    lin = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2))
    cost = count_cost(lin, torch.zeros(1, 10))
    assert cost.macs == 50 + 10 and cost.params == 55 + 12
