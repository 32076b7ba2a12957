// The manual page (roff, section 1) written from the command line's own definition.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace parmap::cli {

/// parmap(1) in man(7) roff: the program's description, then each visible subcommand with its
/// arguments and options (names, value type, description, environment variable, default), the
/// same table `--help` prints. Subcommands and options in no group (hidden) are left out.
std::string man_page(const CLI::App& app, const std::string& version);

}  // namespace parmap::cli
