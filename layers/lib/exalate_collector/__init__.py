"""exalate-collector: watch Exalate synchronization queues and errors from any OpenTelemetry backend."""

__version__ = "0.1.0"
