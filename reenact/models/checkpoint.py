"""GANimation checkpoints: ours (weights + metadata + optional trainer state) and the authors'.

Our file is a ``torch.save`` dict ``{"meta": {...}, "generator": state_dict, "critic": state_dict
or None, "train_state": dict or None}``, loadable with ``weights_only=True`` (only tensors and
plain Python values inside). ``meta`` says everything a user of the weights must reproduce:
AU names and order, AU scale, image size, crop template, normalisation, architecture configs and a
summary of the training data. Files are written to a temp file and renamed, so a crash never
leaves a half-written checkpoint.

The original GANimation code (albertpumarola/GANimation, PyTorch 0.3) saves the generator as
``net_epoch_N_id_G.pth``: a bare state dict with the module names of its ``nn.Sequential``
(``main.0.weight`` ... ``img_reg.0.weight``, ``attetion_reg.0.weight`` [sic]). ``authors_key_map``
maps those names onto ours; PyTorch 0.3's InstanceNorm also stored running statistics it never
used (input statistics are used in train and eval), which are dropped.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from reenact.atomic import atomic_path
from reenact.aus.names import AU_MAX, AU_MIN, AU_NAMES
from reenact.errors import CheckpointError
from reenact.models.networks import (Critic, CriticConfig, GanGenerator, Generator,
                                     GeneratorConfig)
from reenact.tracking.align import AlignConfig

FORMAT = "reenact-ganimation"
FORMAT_VERSION = 1


# ------------------------------------------------------------------------------------------
# Metadata
# ------------------------------------------------------------------------------------------
def make_meta(gen_cfg: GeneratorConfig, critic_cfg: CriticConfig | None = None, *,
              data_summary: dict | None = None, align: AlignConfig | None = None) -> dict:
    """Metadata stored with every checkpoint (plain JSON-able values)."""
    align = align or AlignConfig(size=gen_cfg.image_size)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "au_names": list(AU_NAMES),
        "au_scale": {"range": [AU_MIN, AU_MAX], "model_input": f"aus / {AU_MAX:g}"},
        "image_size": gen_cfg.image_size,
        "crop": {"template_id": align.template_id, "margin": align.margin, "size": gen_cfg.image_size},
        "normalisation": {"channels": "RGB", "range": [-1.0, 1.0], "from_uint8": "x / 127.5 - 1"},
        "generator": gen_cfg.to_dict(),
        "critic": critic_cfg.to_dict() if critic_cfg is not None else None,
        "data": data_summary or {},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": str(torch.__version__),
    }


def differences(meta: dict, gen_cfg: GeneratorConfig | None = None,
                critic_cfg: CriticConfig | None = None) -> list[str]:
    """What differs between a checkpoint's metadata and what this code expects; empty if none."""
    out = []
    if list(meta.get("au_names", [])) != list(AU_NAMES):
        out.append(f"AU order: checkpoint has {','.join(meta.get('au_names', []))}, "
                   f"Reenact uses {','.join(AU_NAMES)}")
    for key, cfg in (("generator", gen_cfg), ("critic", critic_cfg)):
        if cfg is None:
            continue
        theirs = meta.get(key) or {}
        for name, value in cfg.to_dict().items():
            if theirs.get(name) != value:
                out.append(f"{key}.{name}: checkpoint {theirs.get(name)!r}, expected {value!r}")
    return out


# ------------------------------------------------------------------------------------------
# Save / load ours
# ------------------------------------------------------------------------------------------
def atomic_torch_save(obj, path: str | Path) -> Path:
    """torch.save to a temp file beside ``path``, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    return path


def save_checkpoint(path: str | Path, generator: Generator, critic: Critic | None = None, *,
                    data_summary: dict | None = None, train_state: dict | None = None,
                    align: AlignConfig | None = None) -> Path:
    meta = make_meta(generator.cfg, critic.cfg if critic is not None else None,
                     data_summary=data_summary, align=align)
    payload = {
        "meta": meta,
        "generator": generator.state_dict(),
        "critic": critic.state_dict() if critic is not None else None,
        "train_state": train_state,
    }
    return atomic_torch_save(payload, path)


@dataclass
class Checkpoint:
    meta: dict
    generator: dict
    critic: dict | None
    train_state: dict | None

    @property
    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig.from_dict(self.meta["generator"])

    @property
    def align(self) -> AlignConfig:
        """The crop the generator was trained on, so it runs on the same crops."""
        size = self.generator_config.image_size
        crop = self.meta.get("crop") or {}
        default = AlignConfig(size=size)
        return AlignConfig(size=size, margin=float(crop.get("margin", default.margin)),
                           template_id=str(crop.get("template_id", default.template_id)))

    @property
    def critic_config(self) -> CriticConfig | None:
        c = self.meta.get("critic")
        return CriticConfig.from_dict(c) if c else None


def _torch_load(path: Path) -> object:
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, pickle with code objects, not a torch file
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from e


def read_checkpoint(path: str | Path, *, generator: GeneratorConfig | None = None,
                    critic: CriticConfig | None = None) -> Checkpoint:
    """Read one of our checkpoints; refuse it (naming each difference) if it was made for another
    architecture or AU order than the given configs."""
    path = Path(path)
    return _checkpoint_from(_torch_load(path), path, generator, critic)


def _checkpoint_from(obj: object, path: Path, generator: GeneratorConfig | None = None,
                     critic: CriticConfig | None = None) -> Checkpoint:
    """read_checkpoint's checks on an object already loaded from ``path``."""
    if not isinstance(obj, dict) or not isinstance(obj.get("meta"), dict) \
            or obj["meta"].get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a Reenact GANimation checkpoint (no metadata); the "
                              "authors' net_epoch_N_id_G.pth files load with load_authors_generator")
    meta = obj["meta"]
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {meta['format_version']}; this Reenact "
                              f"reads up to {FORMAT_VERSION}")
    diff = differences(meta, generator, critic)
    if diff:
        raise CheckpointError(f"{path} was made for another model: " + "; ".join(diff))
    return Checkpoint(meta, obj["generator"], obj.get("critic"), obj.get("train_state"))


def load_checkpoint_generator(path: str | Path, device: str | torch.device = "cpu") -> GanGenerator:
    """A ready-to-run generator (eval mode, protocol wrapper) from our checkpoint or the authors'.
    (The one loader by name, "rig" / "identity" / a path, is ``reenact.models.load.load_generator``.)"""
    path = Path(path)
    obj = _torch_load(path)
    align = None  # the authors' files record no crop: the default template
    if isinstance(obj, dict) and "meta" in obj:
        ckpt = _checkpoint_from(obj, path)  # the file is read once
        net = Generator(ckpt.generator_config)
        net.load_state_dict(ckpt.generator)
        align = ckpt.align
    else:
        net = load_authors_generator(obj, name=str(path))
    return GanGenerator(net, align).to(device).eval()


# ------------------------------------------------------------------------------------------
# The authors' generator files
# ------------------------------------------------------------------------------------------
_IGNORED_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")


def authors_key_map(cfg: GeneratorConfig) -> dict[str, str]:
    """{authors' key: our key} for every parameter of a "transposed", non-separable generator.

    The authors' ``main`` Sequential is [conv, IN, ReLU] for the stem and each down stage, one
    ResidualBlock per bottleneck block (its own ``main``: conv, IN, ReLU, conv, IN), then
    [convT, IN, ReLU] per up stage."""
    if cfg.upsample != "transposed" or cfg.separable_res:
        raise ValueError("only transposed-conv, non-separable generators have an authors' layout")
    m: dict[str, str] = {}

    def conv_norm(idx: int, ours: str) -> None:
        m[f"main.{idx}.weight"] = f"{ours}.conv.weight"
        m[f"main.{idx + 1}.weight"] = f"{ours}.norm.weight"
        m[f"main.{idx + 1}.bias"] = f"{ours}.norm.bias"

    conv_norm(0, "stem")
    idx = 3
    for i in range(cfg.n_sampling):
        conv_norm(idx, f"down.{i}")
        idx += 3
    for j in range(cfg.n_res_blocks):
        for theirs, ours in ((0, "conv1"), (3, "conv2")):
            m[f"main.{idx}.main.{theirs}.weight"] = f"res.{j}.{ours}.weight"
        for theirs, ours in ((1, "norm1"), (4, "norm2")):
            m[f"main.{idx}.main.{theirs}.weight"] = f"res.{j}.{ours}.weight"
            m[f"main.{idx}.main.{theirs}.bias"] = f"res.{j}.{ours}.bias"
        idx += 1
    for i in range(cfg.n_sampling):
        conv_norm(idx, f"up.{i}")
        idx += 3
    m["img_reg.0.weight"] = "color_head.weight"
    m["attetion_reg.0.weight"] = "attention_head.weight"
    return m


def _strip_authors_state(state: dict) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        k = k.removeprefix("module.")  # saved from nn.DataParallel
        if not k.endswith(_IGNORED_SUFFIXES):
            out[k] = v
    return out


def authors_generator_config(state: dict, image_size: int = 128) -> GeneratorConfig:
    """Infer width, AU count and bottleneck depth from an authors' state dict (they fixed two
    down/up stages; the image size is not in the file: 128 for their released setting)."""
    state = _strip_authors_state(state)
    if "main.0.weight" not in state:
        raise CheckpointError("not an authors' GANimation generator: no 'main.0.weight' key")
    w, c_in = state["main.0.weight"].shape[:2]
    n_res = len({k.split(".")[1] for k in state if re.fullmatch(r"main\.\d+\.main\.0\.weight", k)})
    return GeneratorConfig(image_size=image_size, width=int(w), n_sampling=2, n_res_blocks=n_res,
                           n_aus=int(c_in) - 3)


def load_authors_generator(source: str | Path | dict, cfg: GeneratorConfig | None = None,
                           *, image_size: int = 128, name: str | None = None) -> Generator:
    """Our Generator with the weights of an authors' ``net_epoch_N_id_G.pth`` (path or state dict).

    Every authors' parameter must map onto ours with the same shape and every one of ours must be
    filled; otherwise the error lists the offending keys."""
    name = name or (str(source) if not isinstance(source, dict) else "state dict")
    state = _torch_load(Path(source)) if not isinstance(source, dict) else source
    if not isinstance(state, dict):
        raise CheckpointError(f"{name} is not a state dict")
    state = _strip_authors_state(state)
    cfg = cfg or authors_generator_config(state, image_size)
    net = Generator(cfg)
    key_map = authors_key_map(cfg)
    ours = net.state_dict()
    unknown = sorted(k for k in state if k not in key_map)
    missing = sorted(k for k in key_map if k not in state)
    if unknown or missing:
        raise CheckpointError(f"{name} does not match the authors' generator layout for {cfg}: "
                              f"unexpected keys {unknown[:8]}, missing keys {missing[:8]}")
    mapped = {}
    for theirs, our_key in key_map.items():
        t = state[theirs]
        if tuple(t.shape) != tuple(ours[our_key].shape):
            raise CheckpointError(f"{name}: {theirs} has shape {tuple(t.shape)}, our {our_key} "
                                  f"needs {tuple(ours[our_key].shape)}")
        mapped[our_key] = t
    net.load_state_dict(mapped, strict=True)
    return net


def to_authors_state(net: Generator) -> dict[str, torch.Tensor]:
    """Our generator's weights under the authors' key names (for export and round-trip tests)."""
    ours = net.state_dict()
    return {theirs: ours[our_key].clone() for theirs, our_key in authors_key_map(net.cfg).items()}
