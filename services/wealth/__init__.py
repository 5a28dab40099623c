"""Wealth (DOMAIN.md §2): Yu'e Bao (余额宝), Zhaocaibao (招财宝) fixed-term, Ant Fortune."""
