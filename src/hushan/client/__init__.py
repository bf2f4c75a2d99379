"""A typed Python client for hushan's HTTP API, sync and async, on httpx.

`ops` holds one function per operation of the OpenAPI document (generated from it: `make
client`), each returning a `Call` typed by its reply; `Client.send` and `AsyncClient.send` make
the call, retry it where that is safe (the same Idempotency-Key on every attempt, after the
server's `Retry-After`) and raise `ApiError` with the error's stable code otherwise.
"""

from hushan.client import ops
from hushan.client.attempts import ApiError, RetryPolicy
from hushan.client.call import Call
from hushan.client.clients import AsyncClient, Client

__all__ = ["ApiError", "AsyncClient", "Call", "Client", "RetryPolicy", "ops"]
