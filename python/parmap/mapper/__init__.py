"""The mapper's module layout: ``parmap.mapper.parallel_query_executor`` stands in for
``backend.modules.mapper.parallel_query_executor``."""
