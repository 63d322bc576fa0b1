"""Cluster mode: hash slots and the topology a shard presents to cluster clients."""
