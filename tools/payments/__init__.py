"""Demo payments: customer charges, refunds, and payouts to suppliers."""
