"""Colony's business lines, one gRPC service and one database each (DESIGN.md "The shape")."""
