// The bash completion (completions/parmap.bash) offers what the command line takes.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "support/test_support.h"

namespace parmap {
namespace {

/// COMPREPLY for the words `line` (the last one being completed), one per line.
std::string complete(const std::string& line) {
  const std::string script = std::string("shopt -s extglob; source '") + PARMAP_SOURCE_DIR +
                             "/completions/parmap.bash'; COMP_WORDS=('" + PARMAP_BIN + "' " + line +
                             "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _parmap; " +
                             "printf '%s\\n' \"${COMPREPLY[@]}\"";
  test::TempDir dir;
  test::write_file(dir.file("c.sh"), script);
  std::string out;
  if (FILE* p = popen(("bash " + dir.file("c.sh") + " 2>&1").c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    pclose(p);
  }
  return out;
}

TEST(CompletionTest, SubcommandsOptionsFromHelpAndFixedValues) {
  EXPECT_EQ(complete("co"), "config\n");
  EXPECT_EQ(complete("run --progress-"), "--progress-file\n--progress-interval\n");
  EXPECT_EQ(complete("run --progress j"), "json\n");
  EXPECT_EQ(complete("plan --mode t"), "truncate\n");
  // Options a subcommand does not have are not offered.
  EXPECT_EQ(complete("plan --progress-"), "\n");
  EXPECT_NE(complete("verify --le"), "\n");
}

}  // namespace
}  // namespace parmap
