"""The loan line's routes: huabei, cash_loans, repayments, admin."""
