// parmap(1) from the CLI11 definition itself, so that the page and --help cannot disagree.
#include "cli/man_page.h"

#include <fmt/format.h>

#include <sstream>
#include <vector>

#include "parmap/config.h"

namespace parmap::cli {
namespace {

using parmap::SettingInfo;
using parmap::settings_table;

/// Text as roff input: backslashes escaped, and a line that would start with a control
/// character ('.' or '\'') made plain text.
std::string roff_text(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  bool first = true;
  for (std::string line; std::getline(in, line);) {
    if (!first) out += '\n';
    first = false;
    std::string esc;
    for (char c : line) {
      if (c == '\\') {
        esc += "\\e";
      } else if (c == '-') {
        esc += "\\-";
      } else {
        esc += c;
      }
    }
    size_t lead = esc.find_first_not_of(' ');
    if (lead == std::string::npos) continue;
    esc.erase(0, lead);
    if (esc[0] == '.' || esc[0] == '\'') esc = "\\&" + esc;
    out += esc;
  }
  return out;
}

/// "--source, -s" as bold roff; a positional by its name in italics.
std::string option_names(const CLI::Option& opt) {
  if (!opt.nonpositional()) return "\\fI" + roff_text(opt.get_name(true)) + "\\fR";
  std::vector<std::string> names;
  for (const auto& s : opt.get_snames()) names.push_back("\\fB\\-" + roff_text(s) + "\\fR");
  for (const auto& l : opt.get_lnames()) names.push_back("\\fB\\-\\-" + roff_text(l) + "\\fR");
  std::string text = fmt::format("{}", fmt::join(names, ", "));
  if (opt.get_items_expected_max() > 0) {
    const std::string type = opt.get_type_name();
    text += " \\fI" + roff_text(type.empty() ? "VALUE" : type) + "\\fR";
  }
  return text;
}

void write_options(std::string& out, const CLI::App& app) {
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_group().empty()) continue;  // hidden
    out += ".TP\n" + option_names(*opt) + "\n" + roff_text(opt->get_description()) + "\n";
    if (!opt->get_envname().empty()) {
      out += ".br\nEnvironment: \\fB" + roff_text(opt->get_envname()) + "\\fR\n";
    }
    if (!opt->get_default_str().empty()) {
      out += ".br\nDefault: " + roff_text(opt->get_default_str()) + "\n";
    }
    if (opt->get_required()) out += ".br\nRequired.\n";
  }
}

/// "[options] job_file" for a subcommand's synopsis line.
std::string usage_of(const CLI::App& sub) {
  std::string text = "[\\fIoptions\\fR]";
  for (const CLI::Option* opt : sub.get_options()) {
    if (opt->nonpositional() || opt->get_group().empty()) continue;
    const std::string name = "\\fI" + roff_text(opt->get_name(true)) + "\\fR";
    text += " " + (opt->get_required() ? name : "[" + name + "]");
  }
  return text;
}

}  // namespace

std::string man_page(const CLI::App& app, const std::string& version) {
  const std::string description = app.get_description();
  const std::string summary = description.substr(0, description.find('\n'));
  std::string out = fmt::format(
      ".TH PARMAP 1 \"\" \"{}\" \"User Commands\"\n"
      // URLs and option names read better unbroken.
      ".nh\n"
      ".SH NAME\nparmap \\- {}\n"
      ".SH SYNOPSIS\n.B parmap\n.I command\n[\\fIoptions\\fR] [\\fIarguments\\fR]\n"
      ".SH DESCRIPTION\n{}\n",
      roff_text(version), roff_text(summary.substr(summary.find(": ") + 2)),
      roff_text(description));
  out += ".SH OPTIONS\n";
  write_options(out, app);
  out += ".SH COMMANDS\n";
  for (const CLI::App* sub :
       app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); })) {
    out += fmt::format(".SS \"parmap {} {}\"\n{}\n", roff_text(sub->get_name()), usage_of(*sub),
                       roff_text(sub->get_description()));
    write_options(out, *sub);
  }
  // The settings table that job params, --set and the environment share.
  out +=
      ".SH ENVIRONMENT\n"
      "Each setting comes from the job's params (job file, \\fB\\-\\-set\\fR, flags), else "
      "from its environment variable, else its default; \\fBparmap config\\fR prints each "
      "effective value and where it came from.\n";
  for (const SettingInfo& s : settings_table()) {
    out += fmt::format(".TP\n\\fB{}\\fR (job param \\fI{}\\fR)\n{}\n", roff_text(s.env),
                       roff_text(s.param), roff_text(s.help));
  }
  out +=
      ".SH SEE ALSO\n"
      "The README of parmap: the job file reference, the run report and troubleshooting.\n";
  return out;
}

}  // namespace parmap::cli
