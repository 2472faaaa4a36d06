"""Shared fixtures: one device fixture so every test can run on CPU and, where present, CUDA."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data"
RESEARCH = Path(__file__).resolve().parents[1] / "research"


def _import_research() -> None:
    """Make the checkout's research/ (development scripts, not installed) importable as ``research``
    without putting the checkout's root on sys.path, where ``trainer`` and ``kernels`` would shadow
    the installed ``reenact.trainer`` and ``reenact.kernels``."""
    if "research" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location("research", RESEARCH / "__init__.py",
                                                  submodule_search_locations=[str(RESEARCH)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["research"] = module
    spec.loader.exec_module(module)


_import_research()
torch.set_num_threads(min(2, os.cpu_count() or 1))


def _devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=_devices())
def device(request) -> torch.device:
    return torch.device(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test (tiny models gain nothing from intra-op threads; on a
    shared machine they only add waiting)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
