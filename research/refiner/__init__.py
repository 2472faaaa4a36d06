"""The learned refiner on top of the rig: measured, not shipped."""
