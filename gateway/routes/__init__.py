"""The gateway's REST routes, one module per area; each group lists its Routes and schemas."""
