// A program outside parmap's tree, built against the installed package: copies a SQLite table
// with the five-argument call and prints the rows it copied.
#include <parmap/parmap.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s SOURCE_DB TARGET_DB\n", argv[0]);
    return 2;
  }
  try {
    const std::string source = std::string("sqlite://") + argv[1];
    const std::string target = std::string("sqlite://") + argv[2];
    const parmap::ParallelResult result =
        parmap::execute_query_parallel(source, "SELECT * FROM src ORDER BY id", target, "", "dst");
    std::printf("%lld\n", static_cast<long long>(result.total_rows_processed));
    return result.ok() ? 0 : 1;
  } catch (const parmap::Error& e) {
    std::fprintf(stderr, "%s error: %s\n", parmap::to_string(e.kind()), e.what());
    return 1;
  }
}
