"""What the collector remembers between runs: when each queued item and each error was first seen."""
