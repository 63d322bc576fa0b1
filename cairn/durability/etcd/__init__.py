"""The etcd backend of the transaction log (multi-AZ): client, fenced appends, tailing."""
