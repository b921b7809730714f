"""The user's own settings and themes: preferences, kept apart from recipes."""
