"""Recipes: the TOML that describes one environment, loaded strictly, with positions for errors."""
