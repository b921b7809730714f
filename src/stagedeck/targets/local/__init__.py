"""The local target: services are processes on this machine (the embedded demo)."""
