"""Development scripts: fitting and measuring on the development data (not installed; research/README.md)."""
