"""The environment process: one environment, many viewers.

An environment process owns the target, the probes, the LogHub, the history
and the actions of one environment. Cockpits and CLI commands on the same
host attach to it over a Unix socket (``client.py``); an attached cockpit
draws a :class:`~stagedeck.envproc.mirror.MirrorEngine` that the socket keeps
up to date, so the views need not know whether they look at a local engine or
at someone else's.

``paths`` finds the socket from the recipe, ``wire`` is the JSON line format,
``server`` serves it, ``remote`` (in a viewer) and ``requests`` (in the
process) carry an action through the operations layer so that the
environment's own rules and audit apply once, ``daemon`` is the process itself.
"""
