"""Analyses that need no trained model (the seed's motivating calculations)."""
