import pytest
import torch
import torch.nn as nn

from reenact.aus.names import AU_NAMES, NUM_AUS
from reenact.models.checkpoint import (CheckpointError, authors_generator_config, authors_key_map,
                                       load_authors_generator, load_checkpoint_generator, read_checkpoint,
                                       save_checkpoint)
from reenact.models.networks import (CRITIC_CONFIGS, GENERATOR_CONFIGS, Critic, Generator,
                                     GeneratorConfig)
from reenact.tracking.align import AlignConfig


class _AuthorsResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.InstanceNorm2d(c, affine=True),
                                  nn.ReLU(), nn.Conv2d(c, c, 3, 1, 1, bias=False),
                                  nn.InstanceNorm2d(c, affine=True))

    def forward(self, x):
        return x + self.main(x)


class _AuthorsGenerator(nn.Module):
    """The module layout of albertpumarola/GANimation networks/generator_wasserstein_gan.py
    (written from its published description), so its state_dict has the authors' key names."""

    def __init__(self, conv_dim=8, c_dim=NUM_AUS, repeat_num=2):
        super().__init__()
        layers = [nn.Conv2d(3 + c_dim, conv_dim, 7, 1, 3, bias=False),
                  nn.InstanceNorm2d(conv_dim, affine=True), nn.ReLU()]
        c = conv_dim
        for _ in range(2):
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), nn.InstanceNorm2d(2 * c, affine=True), nn.ReLU()]
            c *= 2
        layers += [_AuthorsResBlock(c) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False),
                       nn.InstanceNorm2d(c // 2, affine=True), nn.ReLU()]
            c //= 2
        self.main = nn.Sequential(*layers)
        self.img_reg = nn.Sequential(nn.Conv2d(c, 3, 7, 1, 3, bias=False), nn.Tanh())
        self.attetion_reg = nn.Sequential(nn.Conv2d(c, 1, 7, 1, 3, bias=False), nn.Sigmoid())

    def forward(self, x, aus):
        maps = aus[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        h = self.main(torch.cat([x, maps], 1))
        return self.img_reg(h), self.attetion_reg(h)


def _randomise(module):
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.2)


def test_authors_state_dict_loads_and_reproduces_their_output():
    theirs = _AuthorsGenerator(conv_dim=8, repeat_num=2)
    _randomise(theirs)
    state = theirs.state_dict()
    assert "main.0.weight" in state and "img_reg.0.weight" in state and "attetion_reg.0.weight" in state
    assert "main.9.main.3.weight" in state  # first residual block's second conv
    # PyTorch 0.3's InstanceNorm stored running statistics, and DataParallel adds "module."
    state = {f"module.{k}": v for k, v in state.items()}
    state["module.main.1.running_mean"] = torch.zeros(8)
    state["module.main.1.running_var"] = torch.ones(8)
    cfg = authors_generator_config(state, image_size=32)
    assert (cfg.width, cfg.n_res_blocks, cfg.n_aus) == (8, 2, NUM_AUS)
    ours = load_authors_generator(state, image_size=32)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    aus = torch.rand(2, NUM_AUS)
    c1, a1 = theirs(x, aus)
    c2, a2 = ours(x, aus)
    torch.testing.assert_close(c2, c1, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a2, a1, rtol=1e-5, atol=1e-6)


def test_paper_key_map_covers_every_parameter():
    cfg = GENERATOR_CONFIGS["paper"]
    key_map = authors_key_map(cfg)
    assert sorted(key_map.values()) == sorted(Generator(cfg).state_dict())
    assert sorted(key_map) == sorted(_AuthorsGenerator(64, NUM_AUS, 6).state_dict())
    assert key_map["main.18.weight"] == "up.1.conv.weight"
    assert key_map["main.19.bias"] == "up.1.norm.bias"


def test_authors_file_with_wrong_keys_is_refused(tmp_path):
    state = _AuthorsGenerator(8, NUM_AUS, 2).state_dict()
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="extra.weight"):
        load_authors_generator(state, image_size=32)
    path = tmp_path / "net_epoch_30_id_G.pth"
    del state["extra.weight"]
    torch.save(state, path)
    gen = load_checkpoint_generator(path)
    assert gen.image_size == 128 and gen.net.cfg.width == 8


def _save(tmp_path, gen_cfg=GENERATOR_CONFIGS["tiny"], critic_cfg=CRITIC_CONFIGS["tiny"], **kw):
    g, d = Generator(gen_cfg), Critic(critic_cfg)
    _randomise(g)
    return g, d, save_checkpoint(tmp_path / "ckpt.pt", g, d, **kw)


def test_round_trip_with_metadata(tmp_path):
    g, d, path = _save(tmp_path, data_summary={"count": 12}, train_state={"step": 7},
                       align=AlignConfig(size=64, margin=0.15))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temp file left behind
    ck = read_checkpoint(path, generator=g.cfg, critic=d.cfg)
    m = ck.meta
    assert m["au_names"] == list(AU_NAMES)
    assert m["au_scale"]["range"] == [0.0, 5.0]
    assert m["image_size"] == 64
    assert m["crop"] == {"template_id": AlignConfig().template_id, "margin": 0.15, "size": 64}
    assert m["normalisation"]["range"] == [-1.0, 1.0]
    assert m["data"] == {"count": 12} and ck.train_state == {"step": 7}
    assert ck.generator_config == g.cfg and ck.critic_config == d.cfg
    loaded = load_checkpoint_generator(path)
    x, aus = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, NUM_AUS) * 5
    torch.testing.assert_close(loaded(x, aus).color, g(x, aus / 5)[0], rtol=0, atol=0)


def test_other_architecture_is_refused_naming_the_difference(tmp_path):
    _, _, path = _save(tmp_path)
    other = GeneratorConfig(image_size=64, width=16, n_res_blocks=1)
    with pytest.raises(CheckpointError, match=r"generator.width: checkpoint 8, expected 16"):
        read_checkpoint(path, generator=other)


def test_other_au_order_is_refused(tmp_path):
    _, _, path = _save(tmp_path)
    obj = torch.load(path, weights_only=True)
    obj["meta"]["au_names"] = list(reversed(AU_NAMES))
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="AU order"):
        read_checkpoint(path)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        read_checkpoint(bad)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a Reenact"):
        read_checkpoint(tmp_path / "plain.pt")
