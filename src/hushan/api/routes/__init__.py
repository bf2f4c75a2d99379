"""The HTTP API's routes, one module per area; each module's `router(ctx)` builds its routes
on one app's context (hushan.api.context), and hushan.api.app composes them."""
