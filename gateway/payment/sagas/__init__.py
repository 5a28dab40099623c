"""The payment line's sagas: pay a merchant from the balance; wallet pay (trade, bill, code)."""
