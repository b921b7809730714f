"""Widgets, grouped by the screen region they live in."""
