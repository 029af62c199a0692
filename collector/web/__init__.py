"""The collector's web side: heartbeat endpoint, JSON API, dashboard and metrics."""
