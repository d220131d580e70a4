"""Upstream adapters and the HTTP plumbing they share (all I/O lives here)."""
