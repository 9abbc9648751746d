"""Kinesis Video archived-media clients: one per stream, on the endpoint GetDataEndpoint names.

The endpoint is fetched once per stream for the life of the container (thread-safe);
``forget`` drops it when a stream was recreated under the same name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class KvsMediaClients:
    def __init__(self, kvs_client: Any, api_name: str, client_for: Callable[[str], Any]) -> None:
        self._kvs = kvs_client
        self._api_name = api_name
        self._client_for = client_for
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def for_stream(self, stream_arn: str) -> Any:
        with self._lock:
            client = self._clients.get(stream_arn)
        if client is None:
            endpoint = self._kvs.get_data_endpoint(StreamARN=stream_arn, APIName=self._api_name)
            client = self._client_for(endpoint["DataEndpoint"])
            with self._lock:
                self._clients[stream_arn] = client
        return client

    def forget(self, stream_arn: str) -> None:
        with self._lock:
            self._clients.pop(stream_arn, None)
