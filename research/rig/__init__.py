"""Fitting and measuring the AU rig on the development data."""
