"""Triage: what a broken environment says about where to look first. Pure functions, no UI."""
