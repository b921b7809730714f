"""The OpenTelemetry environment variables stagedeck gives the processes it starts.

With these, a service instrumented with any OpenTelemetry SDK sends its spans
to the cockpit with no configuration of its own: the endpoint, the protocol
the receiver speaks, the service's name as the recipe spells it (so spans map
to recipe services), and the environment's name as a resource attribute.
A key the recipe sets in the service's own ``env`` wins over these.
"""

from __future__ import annotations

from urllib.parse import quote

from stagedeck.recipe.model import Recipe


def otel_env(recipe: Recipe, service: str, *, in_container: bool = False) -> dict[str, str]:
    """The variables for ``service``; empty when the recipe has no ``[traces]`` section."""
    traces = recipe.traces
    if traces is None:
        return {}
    endpoint = traces.endpoint_for_containers if in_container else traces.endpoint
    name = quote(recipe.name, safe="")
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": service,
        # The SDKs batch spans for 5 s by default; in a cockpit a span should show in a moment.
        "OTEL_BSP_SCHEDULE_DELAY": "500",
        "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment.name={name}",
    }
