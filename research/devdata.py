"""Where the development data lives: the real faces and clips that the rig, the AU calibration and
the measurement scripts were fitted and measured on.

It is ``../shared/data`` beside the repository checkout (the project's layout), or ``$REENACT_DATA``.
Only the scripts in research/ read it; nothing a user runs needs it.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# The fitting scripts rewrite the shipped assets in the checkout (what the next wheel ships), never
# the copy inside an installed package.
CHECKOUT_ASSETS = REPO_ROOT / "reenact" / "assets"


def shared_data_root() -> Path:
    """``$REENACT_DATA`` if set, else ``<checkout>/../shared/data``."""
    env = os.environ.get("REENACT_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"
