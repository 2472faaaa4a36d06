"""The AU rig: Reenact's embedded default generator (geometry first; see docs/rig.md).

``reenact.models.load.load_generator("rig")`` is the entry point; ``RigGenerator`` and ``RigModel``
are the pieces. Fitting and measuring the rig need the development data and live outside the
package, in the checkout's research/ folder (research/README.md).
"""
