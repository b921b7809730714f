"""The Kubernetes target: services are Deployments and StatefulSets in a namespace."""
