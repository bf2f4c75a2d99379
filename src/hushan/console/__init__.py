"""The web console: server-rendered pages under /console/, from the package (docs/console.md)."""
