"""The mapper's module of the same name: the configuration helpers (see
parmap.mapper.parallel_query_executor)."""

from parmap.mapper.parallel_query_executor import (  # noqa: F401  (re-exported)
    ParallelProcessor,
    create_parallel_processor,
    get_parallel_config_from_params,
    should_use_parallel_processing,
)
