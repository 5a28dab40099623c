"""Credit (DOMAIN.md §3): the Sesame-style score (芝麻信用) built from behaviour data."""
