"""Test support for Cairn's multi-AZ mode: a linearizability checker, an
operation recorder and a fault-injecting TCP proxy."""
