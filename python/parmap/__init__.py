"""parmap: copies the result of a source SQL query into a target table in parallel key-range
chunks, exactly once, with parmap's C++ engine.

The mapper-compatible names are in ``parmap.mapper.parallel_query_executor`` (the same layout
as the mapper's ``backend.modules.mapper.parallel_query_executor``, so only the import changes);
they are also importable from here.
"""

from parmap._parmap import (  # noqa: F401  (re-exported)
    Cancelled,
    ChunkReport,
    ConfigError,
    ConnectError,
    DataError,
    Error,
    InDoubtError,
    InternalError,
    ParallelConfig,
    ParallelResult,
    ProgressEvent,
    SchemaError,
    ServerTimeoutError,
    TransientError,
    default_max_workers,
    resolve_config,
    resolve_job_config,
)
from parmap.mapper.parallel_query_executor import (  # noqa: F401  (re-exported)
    ConnectionPoolManager,
    ParallelProcessor,
    ParmapError,
    create_parallel_processor,
    execute_query_parallel,
    get_parallel_config_from_params,
    job_status,
    should_use_parallel_processing,
    verify_query_parallel,
)

__all__ = [
    "Cancelled",
    "ChunkReport",
    "ConfigError",
    "ConnectError",
    "ConnectionPoolManager",
    "DataError",
    "Error",
    "InDoubtError",
    "InternalError",
    "ParallelConfig",
    "ParallelProcessor",
    "ParallelResult",
    "ParmapError",
    "ProgressEvent",
    "SchemaError",
    "ServerTimeoutError",
    "TransientError",
    "create_parallel_processor",
    "default_max_workers",
    "execute_query_parallel",
    "get_parallel_config_from_params",
    "job_status",
    "resolve_config",
    "resolve_job_config",
    "should_use_parallel_processing",
    "verify_query_parallel",
]
