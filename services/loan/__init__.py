"""Loans (DOMAIN.md §4): Huabei (花呗), cash loans (借呗), merchant loans, securitisation."""
