"""The mapper's module of the same name: ``from parmap.parallel_query_executor import
execute_query_parallel`` (see parmap.mapper.parallel_query_executor)."""

from parmap.mapper.parallel_query_executor import (  # noqa: F401  (re-exported)
    ParallelResult,
    ParmapError,
    execute_query_parallel,
    verify_query_parallel,
)
