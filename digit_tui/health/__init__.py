"""Cluster health: a watcher that keeps a snapshot of the cluster (pods, workloads,
PVCs, nodes, recent events) and a pure model that classifies faults.

``model`` has no Kubernetes client dependency: it works on plain JSON objects
as the API returns them, so tests and ``health --once --json`` share it.
"""
