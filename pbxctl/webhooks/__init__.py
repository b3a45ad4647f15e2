"""Webhooks: call events turned into signed JSON, kept in an outbox until delivered."""
