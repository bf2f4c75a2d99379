"""hushan: a friend-relationship lifecycle service (one-way, mutual and block-then-delete)."""

__version__ = "0.1.0"
