// The bash completion (completions/parmap.bash) offers what the command line takes.
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
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
  EXPECT_EQ(complete("report --t"), "--target\n");
}

TEST(CompletionTest, OffersEverySubcommandThatHelpLists) {
  const auto help = test::run_parmap({"--help"});
  ASSERT_EQ(help.exit_code, 0);
  const size_t at = help.out.find("Subcommands:");
  ASSERT_NE(at, std::string::npos) << help.out;
  const std::string offered = complete("''");
  std::istringstream in(help.out.substr(at));
  std::string line;
  std::getline(in, line);
  size_t subs = 0;
  while (std::getline(in, line) && line.find_first_not_of(' ') != std::string::npos) {
    const size_t start = line.find_first_not_of(' ');
    const std::string sub = line.substr(start, line.find(' ', start) - start);
    EXPECT_NE(offered.find(sub + "\n"), std::string::npos) << sub << " not in:\n" << offered;
    ++subs;
  }
  EXPECT_GE(subs, 7u);
}

}  // namespace
}  // namespace parmap
