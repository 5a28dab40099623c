"""Payment (DOMAIN.md §1, Alipay 支付宝): the double-entry ledger, system of record for money."""
