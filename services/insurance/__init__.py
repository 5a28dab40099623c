"""Insurance (DOMAIN.md §5): partner insurers' products, policies and claims."""
