"""The mapper's module of the same name: ``from parmap.parallel_connection_pool import
ConnectionPoolManager`` (see parmap.mapper.parallel_query_executor)."""

from parmap.mapper.parallel_query_executor import ConnectionPoolManager  # noqa: F401
