"""The local stack: the whole pipeline on one machine, on moto, from the project's template."""

from facewatch_tools.local.stack import LocalStack

__all__ = ["LocalStack"]
