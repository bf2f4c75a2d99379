"""The domain core: states, rules and errors, with no I/O and no clock of its own."""
