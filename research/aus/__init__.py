"""Fitting and measuring the AU estimator on the development data."""
