// Fuzzes the job-file reader (cli::load_job_file) and what the command line does next with a
// loaded job (source_query, apply_set).
//
// Property beyond "no crash": only parmap::Error leaves these functions (a YAML exception or
// any other escaping is a bug: main() would not report it as a configuration error).
//
// load_job_file takes a path: each input is written to one memfd, reused for every input
// and read back through /proc/self/fd/N, so that nothing touches the disk.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "cli/job_spec.h"
#include "parmap/error.h"

namespace {

[[noreturn]] void finding(const char* what, std::string_view detail, std::string_view input) {
  std::fprintf(stderr, "\n*** job_file_fuzz finding: %s\n*** detail: %.*s\n*** input (%zu bytes): ",
               what, static_cast<int>(detail.size()), detail.data(), input.size());
  for (unsigned char c : input) std::fprintf(stderr, "%02x", c);
  std::fprintf(stderr, "\n");
  std::abort();
}

// The memfd holding the current input and its /proc path.
struct InputFile {
  int fd = -1;
  std::string path;

  InputFile() {
    fd = memfd_create("parmap-job-fuzz", 0);
    if (fd < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path = "/proc/self/fd/" + std::to_string(fd);
  }

  void write_all(std::string_view bytes) const {
    if (ftruncate(fd, 0) != 0) {
      std::perror("ftruncate");
      std::abort();
    }
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = pwrite(fd, bytes.data() + done, bytes.size() - done,
                               static_cast<off_t>(done));
      if (n <= 0) {
        std::perror("pwrite");
        std::abort();
      }
      done += static_cast<size_t>(n);
    }
  }
};

template <typename F>
void only_parmap_errors(const char* step, std::string_view input, F&& f) {
  try {
    f();
  } catch (const parmap::Error&) {
  } catch (const std::exception& e) {
    std::string detail = std::string(step) + ": " + e.what();
    finding("something else than parmap::Error escaped", detail, input);
  } catch (...) {
    finding("a non-std exception escaped", step, input);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const InputFile file;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  file.write_all(input);

  parmap::cli::JobSpec spec;
  bool loaded = false;
  only_parmap_errors("load_job_file", input, [&] {
    spec = parmap::cli::load_job_file(file.path);
    loaded = true;
  });
  if (!loaded) return 0;
  only_parmap_errors("source_query", input, [&] { (void)parmap::cli::source_query(spec); });
  // --set with each loaded param as it would come from the command line.
  const auto params = spec.params;
  for (const auto& param : params) {  // (clang 14 cannot capture structured bindings)
    const std::string assignment = param.first + "=" + param.second;
    only_parmap_errors("apply_set", input, [&] { parmap::cli::apply_set(spec, assignment); });
  }
  return 0;
}
