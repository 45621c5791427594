"""The HTTP edge: aggregator adapters, the hop pipeline, health and metrics."""
