"""Queue statistics: queue_log and live queue events, and the service level."""
