// `parmap demo`: build a sample SQLite source, copy it serially and in parallel, verify both.
#pragma once

#include <cstdint>
#include <string>

namespace parmap::cli {

struct DemoOptions {
  int64_t rows = 1000000;
  std::string dir = "parmap-demo";
  int workers = 0;  ///< 0: max(2, CPU cores)
  bool json = false;
};

/// Runs the demo; returns the process exit code (0 when both copies verify).
int run_demo(const DemoOptions& options);

}  // namespace parmap::cli
