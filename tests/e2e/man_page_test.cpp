// parmap(1): written from the command line's own definition, rendered by man and groff without
// a warning, naming every subcommand and option that --help shows.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "support/test_support.h"

namespace parmap {
namespace {

/// Runs `command` in the shell; its stdout and stderr (2>&1 in `command`) and exit status.
std::pair<std::string, int> shell(const std::string& command) {
  std::string out;
  int status = -1;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    status = pclose(p);
  }
  return {out, status};
}

/// The page's text as roff source with the font changes and escaped hyphens undone.
std::string plain(std::string roff) {
  for (const char* code : {"\\fB", "\\fI", "\\fR"}) {
    for (size_t at; (at = roff.find(code)) != std::string::npos;) roff.erase(at, 3);
  }
  for (size_t at; (at = roff.find("\\-")) != std::string::npos;) roff.erase(at, 1);
  return roff;
}

/// True when `text` holds `name` as a whole option name (not a prefix of a longer one).
bool names_option(const std::string& text, const std::string& name) {
  auto part = [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; };
  for (size_t at = text.find(name); at != std::string::npos; at = text.find(name, at + 1)) {
    const size_t end = at + name.size();
    if ((at == 0 || !part(text[at - 1])) && (end == text.size() || !part(text[end]))) return true;
  }
  return false;
}

/// The subcommands a --help text lists under "Subcommands:".
std::set<std::string> subcommands_of(const std::string& help) {
  std::set<std::string> out;
  const size_t at = help.find("Subcommands:");
  if (at == std::string::npos) return out;
  std::istringstream in(help.substr(at));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line) && !line.empty()) {
    const size_t start = line.find_first_not_of(' ');
    if (start == std::string::npos) break;
    out.insert(line.substr(start, line.find(' ', start) - start));
  }
  return out;
}

TEST(ManPageTest, RendersWithoutWarningsAndNamesEverySubcommandAndOption) {
  test::TempDir dir;
  const auto man = test::run_parmap({"man"});
  ASSERT_EQ(man.exit_code, 0) << man.err;
  ASSERT_EQ(man.out.rfind(".TH PARMAP 1 ", 0), 0u) << man.out.substr(0, 200);
  const std::string page = dir.file("parmap.1");
  test::write_file(page, man.out);

  // The page the build wrote beside the binary (and installs) is this one.
  const std::string bin = PARMAP_BIN;
  EXPECT_EQ(test::read_file(bin.substr(0, bin.rfind('/')) + "/parmap.1"), man.out);

  const auto groff = shell("groff -man -Tutf8 -ww -z '" + page + "' 2>&1");
  EXPECT_EQ(groff.second, 0);
  EXPECT_EQ(groff.first, "");
  const auto rendered = shell("MANWIDTH=80 man -l '" + page + "' 2>&1 >/dev/null");
  EXPECT_EQ(rendered.second, 0);
  EXPECT_EQ(rendered.first, "");
  // Justified: words may be several spaces apart.
  const auto text = shell("MANWIDTH=80 man -l '" + page + "' 2>/dev/null | tr -s ' '");
  EXPECT_NE(text.first.find("parmap - copy a source query"), std::string::npos)
      << text.first.substr(0, 400);

  const std::string source = plain(man.out);
  const auto help = test::run_parmap({"--help"});
  const std::set<std::string> subs = subcommands_of(help.out);
  ASSERT_GE(subs.size(), 7u) << help.out;
  EXPECT_TRUE(subs.count("report")) << help.out;
  EXPECT_FALSE(subs.count("man")) << help.out;  // hidden
  const std::regex option("--[a-z][a-z-]*");
  for (const std::string& sub : subs) {
    EXPECT_NE(source.find(".SS \"parmap " + sub + " "), std::string::npos) << sub;
    const auto sub_help = test::run_parmap({sub, "--help"});
    ASSERT_EQ(sub_help.exit_code, 0) << sub;
    // The section of this subcommand, up to the next one.
    const size_t from = source.find(".SS \"parmap " + sub + " ");
    const std::string section = source.substr(from, source.find("\n.S", from + 4) - from);
    size_t options = 0;
    for (std::sregex_iterator it(sub_help.out.begin(), sub_help.out.end(), option), end; it != end;
         ++it) {
      EXPECT_TRUE(names_option(section, it->str())) << sub << " " << it->str() << "\n" << section;
      ++options;
    }
    EXPECT_GT(options, 0u) << sub;
  }
  // The settings and their environment variables.
  EXPECT_NE(source.find("MAPPER_MAX_WORKERS"), std::string::npos);
  EXPECT_NE(source.find("MAPPER_CHUNK_SIZE"), std::string::npos);
}

}  // namespace
}  // namespace parmap
