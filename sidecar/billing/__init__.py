"""Money: the cost table and the credit ledger (reserve → post → void)."""
