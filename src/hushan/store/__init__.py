"""Storage: the `Store` interface and one implementation per backend."""
