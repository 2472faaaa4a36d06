"""Package discovery for the mapped layout (metadata lives in pyproject.toml).

trainer/, kernels/ and examples/aus/ (the presets) sit at the repository's top level but install as reenact.trainer,
reenact.kernels and reenact.presets; find_packages cannot see through that mapping, so the subpackages are listed here.
"""
from setuptools import find_packages, setup


def mapped(root: str, prefix: str) -> list[str]:
    return [prefix] + [f"{prefix}.{p}" for p in find_packages(root)]


setup(packages=find_packages(include=["reenact", "reenact.*"])
      + mapped("trainer", "reenact.trainer") + mapped("kernels", "reenact.kernels")
      # Data-only folders are listed too: setuptools warns about (and may drop) importable
      # folders that are not packages.
      + ["reenact.presets", "reenact.presets.timelines", "reenact.webrtc.static"])
