"""The wealth line's sagas: purchases paid from the balance, and the Yu'e Bao redemption."""
