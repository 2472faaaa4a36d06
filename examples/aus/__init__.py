"""Expression presets (JSON), installed as ``reenact.presets`` so that bare names such as
``--aus smile`` work from any install, not only from a checkout."""
