"""What can happen to one row of a keyed import. Kept free of pandas: the admin reads these names at
start-up (its import screens are registered in every process), and pandas loads only for an import."""

NEW, CHANGED, UNCHANGED, REJECTED = "new", "changed", "unchanged", "rejected"
