import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from reenact.cli.main import app
from reenact.models.checkpoint import load_checkpoint_generator, read_checkpoint
from reenact.trainer.config import RECIPES, TrainConfig, recipe
from reenact.trainer.loop import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LOSS_KEYS = ("d/loss", "d/gp", "d/au_mse_real", "g/loss", "g/cycle_l1", "g/attention_mean")


def _tiny(**kw) -> TrainConfig:
    return recipe("tiny").with_overrides(**kw)


def test_config_json_round_trip():
    for cfg in RECIPES.values():
        assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(ValueError, match="unknown training config keys: bogus"):
        TrainConfig.from_dict({"bogus": 1})


def test_short_training_on_real_crops(data_dir, tmp_path):
    # 10 training crops, batch 4 -> 2 steps per epoch; 60 steps with decay over the last 10.
    cfg = _tiny(steps=60, epochs=30, decay_epochs=5, sample_every=30, checkpoint_every=30,
                log_every=10)
    res = train(data_dir / "crops", tmp_path / "run", cfg, progress=False)
    au = [h["d/au_mse_real"] for h in res.history]
    assert np.mean(au[-10:]) < 0.6 * np.mean(au[:5]), au
    att = [h["g/attention_mean"] for h in res.history if "g/attention_mean" in h]
    assert 0.05 < att[-1] < 0.95, att
    assert all(np.isfinite(h[k]) for h in res.history for k in LOSS_KEYS if k in h)
    # run directory
    run = tmp_path / "run"
    conf = json.loads((run / "config.json").read_text())
    assert conf["train"]["recipe"] == "tiny" and conf["data"]["count"] == 10
    lines = (run / "stats.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [10, 20, 30, 40, 50, 60]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-0000030.png", "step-0000060.png"]
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    ckpt = read_checkpoint(run / "checkpoints" / "step-0000060.pt", generator=cfg.generator,
                           critic=cfg.critic)
    assert ckpt.train_state["step"] == 60 and ckpt.meta["data"]["count"] == 10
    gen = load_checkpoint_generator(run / "checkpoints" / "step-0000060.pt")
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    torch.testing.assert_close(gen(x, torch.full((1, 17), 2.5)).color,
                               res.generator(x, torch.full((1, 17), 0.5))[0])


def test_resume_equals_uninterrupted(data_dir, tmp_path):
    cfg = _tiny(steps=12, epochs=6, decay_epochs=2, checkpoint_every=100, sample_every=100)
    full = train(data_dir / "crops", tmp_path / "full", cfg, progress=False)
    first = train(data_dir / "crops", tmp_path / "split", cfg, progress=False, stop_after=5)
    assert first.last_step == 5
    with pytest.raises(Exception, match="--resume"):
        train(data_dir / "crops", tmp_path / "split", cfg, progress=False)
    with open(tmp_path / "split" / "stats.jsonl", "a") as fh:  # as if killed after step 5's checkpoint
        fh.write('{"step": 6, "d/loss": 0.0}\n{"step": 7, "d/lo')
    rest = train(data_dir / "crops", tmp_path / "split", cfg, progress=False, resume=True)
    steps = [json.loads(x)["step"] for x in (tmp_path / "split" / "stats.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 13))
    assert rest.last_step == 12 and [h["step"] for h in rest.history] == list(range(6, 13))
    for a, b in zip(full.history[5:], rest.history):
        for k in LOSS_KEYS + ("lr",):
            assert a.get(k) == b.get(k), (a["step"], k, a.get(k), b.get(k))
    for (name, p), q in zip(full.generator.state_dict().items(), rest.generator.state_dict().values()):
        assert torch.equal(p, q), name


def test_resume_refuses_another_architecture(data_dir, tmp_path):
    cfg = _tiny(steps=4, epochs=2, decay_epochs=1)
    train(data_dir / "crops", tmp_path / "run", cfg, progress=False, stop_after=2)
    wider = cfg.with_overrides(generator=type(cfg.generator)(image_size=64, width=16, n_res_blocks=1))
    with pytest.raises(Exception, match="generator.width: checkpoint 8, expected 16"):
        train(data_dir / "crops", tmp_path / "run", wider, progress=False, resume=True)


def test_cli_trains_resumes_and_reports_bad_data(data_dir, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["train", str(data_dir / "crops"), "--config", "tiny", "--out", str(out), "--steps", "6"]
    r = runner.invoke(app, args + ["--stop-after", "3"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", str(data_dir / "crops"), "--out", str(out), "--resume", "--steps", "6"])
    assert r.exit_code == 0, r.output
    assert "trained to step 6" in r.output
    r = runner.invoke(app, ["train", str(tmp_path / "nowhere"), "--config", "tiny", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "does not exist" in r.output
    r = runner.invoke(app, ["train", str(data_dir / "crops"), "--config", "huge", "--out", str(tmp_path / "y")])
    assert r.exit_code == 2 and "unknown training config 'huge'" in r.output


# --- RNG state, devices under torchrun, the authors' critic schedule ----------------------------
def test_rng_state_round_trip_on_cpu_and_an_other_machines_gpu_states():
    import random

    from reenact.trainer.loop import rng_state, set_rng_state

    cpu = torch.device("cpu")
    saved = rng_state(cpu)
    assert "cuda" not in saved  # a CPU run has no GPU state to carry
    expected = (torch.rand(3), np.random.rand(3), random.random())
    # A checkpoint from an 8-GPU machine (the older format: every visible GPU's state) resumes on
    # a machine without one; the CPU, NumPy and Python states come back exactly.
    saved["cuda"] = [torch.zeros(16, dtype=torch.uint8)] * 8
    torch.rand(5), np.random.rand(5), random.random()
    set_rng_state(saved, cpu)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2] == again[2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_rng_state_holds_this_gpus_state_and_resumes_with_fewer_gpus():
    from reenact.trainer.loop import rng_state, set_rng_state

    dev = torch.device("cuda", 0)
    saved = rng_state(dev)
    assert "cuda" in saved and saved["cuda"].dtype == torch.uint8
    expected = torch.rand(4, device=dev)
    torch.rand(4, device=dev)
    set_rng_state(saved, dev)
    assert torch.equal(torch.rand(4, device=dev), expected)
    # the older all-GPUs list, from a machine with more GPUs than this one
    saved["cuda"] = [saved["cuda"]] * (torch.cuda.device_count() + 3)
    set_rng_state(saved, dev)
    assert torch.equal(torch.rand(4, device=dev), expected)


def test_each_process_uses_its_local_rank_gpu(monkeypatch):
    from reenact.trainer import loop

    monkeypatch.setenv("LOCAL_RANK", "1")
    assert loop._pick_device("cuda") == torch.device("cuda", 1)
    assert loop._pick_device("cuda:0") == torch.device("cuda", 0)  # an explicit index is kept
    assert loop._pick_device("cpu") == torch.device("cpu")
    # The GPU is selected before the NCCL group starts (else every rank opens a context on GPU 0).
    calls = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(loop.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(loop.torch.cuda, "set_device", lambda d: calls.append(("set_device", d)))
    monkeypatch.setattr(loop.dist, "init_process_group", lambda backend: calls.append(("init", backend)))
    monkeypatch.setattr(loop.dist, "get_rank", lambda: 1)
    monkeypatch.setattr(loop.dist, "get_world_size", lambda: 2)
    assert loop._dist_setup(torch.device("cuda", 1)) == (1, 2, True)
    assert calls == [("set_device", torch.device("cuda", 1)), ("init", "nccl")]


def test_two_step_critic_update_takes_the_authors_two_adam_steps(data_dir, tmp_path):
    with pytest.raises(ValueError, match="critic_update must be one of summed, two_steps"):
        _tiny(critic_update="twice")
    runs = {}
    for mode in ("summed", "two_steps"):
        cfg = _tiny(steps=4, epochs=2, decay_epochs=1, checkpoint_every=4, critic_update=mode)
        runs[mode] = train(data_dir / "crops", tmp_path / mode, cfg, progress=False)
        state = read_checkpoint(tmp_path / mode / "checkpoints" / "step-0000004.pt",
                                generator=cfg.generator, critic=cfg.critic).train_state
        adam_steps = {net: {float(s["step"]) for s in state[f"optim_{net}"]["state"].values()}
                      for net in ("d", "g")}
        # 4 batches: the critic steps once per batch (summed) or twice (the authors'); the
        # generator every n_critic = 2 batches either way
        assert adam_steps == {"d": {4.0 if mode == "summed" else 8.0}, "g": {2.0}}
        assert all(np.isfinite(h[k]) for h in runs[mode].history for k in ("d/loss", "d/gp", "d/wasserstein"))
    first = {m: r.history[0] for m, r in runs.items()}
    # Same batch and critic before the first step: the Wasserstein and AU terms agree; the penalty
    # of the two-step schedule is taken at the critic after its first step, so it differs.
    assert first["summed"]["d/wasserstein"] == first["two_steps"]["d/wasserstein"]
    assert first["summed"]["d/gp"] != first["two_steps"]["d/gp"]
