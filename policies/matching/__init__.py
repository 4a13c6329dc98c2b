"""Three-way match (invoice vs purchase order vs goods receipt) with finance's tolerances."""
