"""Telemetry: the declared contract, the pure mapping from exchanges to points and events, the OTel SDK edge."""
