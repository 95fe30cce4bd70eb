"""The calls app's HTTP doors for integrators: /make_call, /api/calls/, the call history, recordings."""
