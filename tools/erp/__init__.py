"""Demo ERP: suppliers, purchase orders, goods receipts, supplier invoices and the ledger."""
