"""Per-container metrics of a devops-labs deployment for Prometheus, and the alert webhook sink."""

__version__ = "1.0.0"
