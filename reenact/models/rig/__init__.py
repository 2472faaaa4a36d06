"""The AU rig: Reenact's embedded default generator (geometry first; see docs/rig.md).

``reenact.models.load.load_generator("rig")`` is the entry point; ``RigGenerator`` and ``RigModel``
are the pieces, ``python -m reenact.models.rig.fit`` refits the shipped rig and
``python -m reenact.models.rig.evaluate`` measures it on the held-out London faces.
"""
