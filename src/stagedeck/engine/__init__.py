"""The engine layer: service state, probes, logs, latency, events, the graph and plans on it."""
