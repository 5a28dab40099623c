"""The payment line's REST routes, one module per group; each lists its Routes and schemas."""
