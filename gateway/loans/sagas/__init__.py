"""The loan line's sagas: the cash-loan disbursement and the repayment."""
