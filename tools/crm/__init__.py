"""Demo CRM: customers, their orders, and notes left by staff and agents."""
