"""Runtime backends for generators: torch, ONNX Runtime, OpenVINO, TensorRT; chosen by name.

    from reenact.runtime import make_backend
    gen = make_backend("auto", "model.pt", device="cpu", batch=4)   # -> a protocol FaceGenerator
"""
from reenact.runtime.base import PRECISIONS, Backend, BackendConfig, BackendUnavailable, default_threads
from reenact.runtime.registry import (AUTO_ORDER, available_backends, backend_names, choose_auto,
                                      make_backend, why_unavailable)

__all__ = ["PRECISIONS", "AUTO_ORDER", "Backend", "BackendConfig", "BackendUnavailable",
           "available_backends", "backend_names", "choose_auto", "default_threads", "make_backend",
           "why_unavailable"]
