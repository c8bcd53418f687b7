"""Fakes that are real code: deterministic stand-ins for models and servers, used by tests."""
