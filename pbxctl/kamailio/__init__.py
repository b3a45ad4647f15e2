"""Talking to an edge's Kamailio: JSON-RPC over HTTP, and carrying its files there."""
