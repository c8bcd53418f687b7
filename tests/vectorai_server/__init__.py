"""Test infrastructure: an in-process VectorAI DB stand-in that the real SDK talks to over gRPC."""

from tests.vectorai_server.server import ContractServer

__all__ = ["ContractServer"]
