"""The edge's own routes: register and log in, liveness and readiness, the API description."""
