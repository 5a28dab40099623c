"""The insurance sagas: the premium (policy_premium), the cancellation refund (policy_refund)
and the claim payout (claim_payout); the Yu'e Bao and Huabei steps the premium shares with
wallet pay are in ``funding``."""
