"""Dataset preparation for training (``reenact prepare``)."""
