"""The Docker target: services are containers on a Docker engine."""
