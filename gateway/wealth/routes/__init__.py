"""The wealth line's REST routes, one module per product family plus the operators' routes."""
