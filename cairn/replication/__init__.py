"""Multi-AZ: leadership on etcd, replicas tailing the log, failover, local clusters."""
