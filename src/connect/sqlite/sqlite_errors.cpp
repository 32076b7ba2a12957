// SQLite result codes classified into parmap's error kinds, and the Error a failed call throws.
#include "connect/sqlite/sqlite_errors.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace parmap::sqlite {
namespace {

struct CodeKind {
  int code;
  ErrorKind kind;
};

// Exact extended codes are looked up first, then the primary code (low byte), so an
// extended code only needs a row here when it means something else than its family.
constexpr std::array kExtendedKinds = {
    CodeKind{SQLITE_ABORT_ROLLBACK, ErrorKind::Transient},
    CodeKind{SQLITE_IOERR_NOMEM, ErrorKind::Internal},
};

constexpr std::array kPrimaryKinds = {
    CodeKind{SQLITE_ERROR, ErrorKind::Config},  // refined by kErrorMessageKinds
    CodeKind{SQLITE_INTERNAL, ErrorKind::Internal},
    CodeKind{SQLITE_PERM, ErrorKind::Connect},
    CodeKind{SQLITE_ABORT, ErrorKind::Transient},
    CodeKind{SQLITE_BUSY, ErrorKind::Transient},
    CodeKind{SQLITE_LOCKED, ErrorKind::Transient},
    CodeKind{SQLITE_NOMEM, ErrorKind::Internal},
    CodeKind{SQLITE_READONLY, ErrorKind::Connect},
    CodeKind{SQLITE_INTERRUPT, ErrorKind::Transient},  // the chunk watchdog: retried
    CodeKind{SQLITE_IOERR, ErrorKind::Internal},
    CodeKind{SQLITE_CORRUPT, ErrorKind::Internal},
    CodeKind{SQLITE_NOTFOUND, ErrorKind::Internal},
    CodeKind{SQLITE_FULL, ErrorKind::Internal},
    CodeKind{SQLITE_CANTOPEN, ErrorKind::Connect},
    CodeKind{SQLITE_PROTOCOL, ErrorKind::Transient},
    CodeKind{SQLITE_EMPTY, ErrorKind::Internal},
    CodeKind{SQLITE_SCHEMA, ErrorKind::Transient},
    CodeKind{SQLITE_TOOBIG, ErrorKind::Data},
    CodeKind{SQLITE_CONSTRAINT, ErrorKind::Data},
    CodeKind{SQLITE_MISMATCH, ErrorKind::Data},
    CodeKind{SQLITE_MISUSE, ErrorKind::Internal},
    CodeKind{SQLITE_NOLFS, ErrorKind::Internal},
    CodeKind{SQLITE_AUTH, ErrorKind::Connect},
    CodeKind{SQLITE_FORMAT, ErrorKind::Internal},
    CodeKind{SQLITE_RANGE, ErrorKind::Data},
    CodeKind{SQLITE_NOTADB, ErrorKind::Connect},
};

struct MessageKind {
  std::string_view fragment;
  ErrorKind kind;
};

// Plain SQLITE_ERROR covers both a schema that does not match and SQL that cannot run;
// only the message tells them apart. First match wins.
constexpr std::array kErrorMessageKinds = {
    MessageKind{"no such table", ErrorKind::Schema},
    MessageKind{"no such column", ErrorKind::Schema},
    MessageKind{"has no column named", ErrorKind::Schema},
    MessageKind{"no such index", ErrorKind::Schema},
    MessageKind{"no such view", ErrorKind::Schema},
    MessageKind{"already exists", ErrorKind::Schema},
    MessageKind{"values were supplied", ErrorKind::Schema},  // "table t has 2 columns but 3..."
    MessageKind{"syntax error", ErrorKind::Config},
    MessageKind{"incomplete input", ErrorKind::Config},
    MessageKind{"unrecognized token", ErrorKind::Config},
    MessageKind{"no such function", ErrorKind::Config},
    MessageKind{"ambiguous column name", ErrorKind::Config},
    MessageKind{"wrong number of arguments", ErrorKind::Config},
    MessageKind{"interrupted", ErrorKind::Cancelled},
};

struct CodeName {
  int code;
  const char* name;
};

// Each name is the constant's own spelling, so the table cannot drift from the header.
#define PARMAP_SQLITE_CODE(c) \
  CodeName { c, #c }
constexpr std::array kCodeNames = {
    PARMAP_SQLITE_CODE(SQLITE_OK),
    PARMAP_SQLITE_CODE(SQLITE_ERROR),
    PARMAP_SQLITE_CODE(SQLITE_INTERNAL),
    PARMAP_SQLITE_CODE(SQLITE_PERM),
    PARMAP_SQLITE_CODE(SQLITE_ABORT),
    PARMAP_SQLITE_CODE(SQLITE_BUSY),
    PARMAP_SQLITE_CODE(SQLITE_LOCKED),
    PARMAP_SQLITE_CODE(SQLITE_NOMEM),
    PARMAP_SQLITE_CODE(SQLITE_READONLY),
    PARMAP_SQLITE_CODE(SQLITE_INTERRUPT),
    PARMAP_SQLITE_CODE(SQLITE_IOERR),
    PARMAP_SQLITE_CODE(SQLITE_CORRUPT),
    PARMAP_SQLITE_CODE(SQLITE_NOTFOUND),
    PARMAP_SQLITE_CODE(SQLITE_FULL),
    PARMAP_SQLITE_CODE(SQLITE_CANTOPEN),
    PARMAP_SQLITE_CODE(SQLITE_PROTOCOL),
    PARMAP_SQLITE_CODE(SQLITE_EMPTY),
    PARMAP_SQLITE_CODE(SQLITE_SCHEMA),
    PARMAP_SQLITE_CODE(SQLITE_TOOBIG),
    PARMAP_SQLITE_CODE(SQLITE_CONSTRAINT),
    PARMAP_SQLITE_CODE(SQLITE_MISMATCH),
    PARMAP_SQLITE_CODE(SQLITE_MISUSE),
    PARMAP_SQLITE_CODE(SQLITE_NOLFS),
    PARMAP_SQLITE_CODE(SQLITE_AUTH),
    PARMAP_SQLITE_CODE(SQLITE_FORMAT),
    PARMAP_SQLITE_CODE(SQLITE_RANGE),
    PARMAP_SQLITE_CODE(SQLITE_NOTADB),
    PARMAP_SQLITE_CODE(SQLITE_NOTICE),
    PARMAP_SQLITE_CODE(SQLITE_WARNING),
    PARMAP_SQLITE_CODE(SQLITE_ROW),
    PARMAP_SQLITE_CODE(SQLITE_DONE),
    PARMAP_SQLITE_CODE(SQLITE_ERROR_MISSING_COLLSEQ),
    PARMAP_SQLITE_CODE(SQLITE_ERROR_RETRY),
    PARMAP_SQLITE_CODE(SQLITE_ERROR_SNAPSHOT),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_READ),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_SHORT_READ),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_WRITE),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_FSYNC),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_DIR_FSYNC),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_TRUNCATE),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_FSTAT),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_UNLOCK),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_RDLOCK),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_DELETE),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_NOMEM),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_ACCESS),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_CHECKRESERVEDLOCK),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_LOCK),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_CLOSE),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_SHMOPEN),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_SHMSIZE),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_SHMMAP),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_SEEK),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_MMAP),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_GETTEMPPATH),
    PARMAP_SQLITE_CODE(SQLITE_IOERR_CORRUPTFS),
    PARMAP_SQLITE_CODE(SQLITE_LOCKED_SHAREDCACHE),
    PARMAP_SQLITE_CODE(SQLITE_LOCKED_VTAB),
    PARMAP_SQLITE_CODE(SQLITE_BUSY_RECOVERY),
    PARMAP_SQLITE_CODE(SQLITE_BUSY_SNAPSHOT),
    PARMAP_SQLITE_CODE(SQLITE_BUSY_TIMEOUT),
    PARMAP_SQLITE_CODE(SQLITE_CANTOPEN_NOTEMPDIR),
    PARMAP_SQLITE_CODE(SQLITE_CANTOPEN_ISDIR),
    PARMAP_SQLITE_CODE(SQLITE_CANTOPEN_FULLPATH),
    PARMAP_SQLITE_CODE(SQLITE_CANTOPEN_CONVPATH),
    PARMAP_SQLITE_CODE(SQLITE_CANTOPEN_SYMLINK),
    PARMAP_SQLITE_CODE(SQLITE_CORRUPT_VTAB),
    PARMAP_SQLITE_CODE(SQLITE_CORRUPT_SEQUENCE),
    PARMAP_SQLITE_CODE(SQLITE_CORRUPT_INDEX),
    PARMAP_SQLITE_CODE(SQLITE_READONLY_RECOVERY),
    PARMAP_SQLITE_CODE(SQLITE_READONLY_CANTLOCK),
    PARMAP_SQLITE_CODE(SQLITE_READONLY_ROLLBACK),
    PARMAP_SQLITE_CODE(SQLITE_READONLY_DBMOVED),
    PARMAP_SQLITE_CODE(SQLITE_READONLY_CANTINIT),
    PARMAP_SQLITE_CODE(SQLITE_READONLY_DIRECTORY),
    PARMAP_SQLITE_CODE(SQLITE_ABORT_ROLLBACK),
    PARMAP_SQLITE_CODE(SQLITE_CONSTRAINT_CHECK),
    PARMAP_SQLITE_CODE(SQLITE_CONSTRAINT_COMMITHOOK),
    PARMAP_SQLITE_CODE(SQLITE_CONSTRAINT_FOREIGNKEY),
    PARMAP_SQLITE_CODE(SQLITE_CONSTRAINT_FUNCTION),
    PARMAP_SQLITE_CODE(SQLITE_CONSTRAINT_NOTNULL),
    PARMAP_SQLITE_CODE(SQLITE_CONSTRAINT_PRIMARYKEY),
    PARMAP_SQLITE_CODE(SQLITE_CONSTRAINT_TRIGGER),
    PARMAP_SQLITE_CODE(SQLITE_CONSTRAINT_UNIQUE),
    PARMAP_SQLITE_CODE(SQLITE_CONSTRAINT_VTAB),
    PARMAP_SQLITE_CODE(SQLITE_CONSTRAINT_ROWID),
    PARMAP_SQLITE_CODE(SQLITE_CONSTRAINT_PINNED),
    PARMAP_SQLITE_CODE(SQLITE_CONSTRAINT_DATATYPE),
    PARMAP_SQLITE_CODE(SQLITE_AUTH_USER),
};
#undef PARMAP_SQLITE_CODE

template <typename Table>
const CodeKind* find_code(const Table& table, int code) {
  auto it = std::find_if(table.begin(), table.end(),
                         [code](const CodeKind& e) { return e.code == code; });
  return it == table.end() ? nullptr : &*it;
}

bool contains_ignoring_case(std::string_view text, std::string_view fragment) {
  auto it =
      std::search(text.begin(), text.end(), fragment.begin(), fragment.end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
      });
  return it != text.end();
}

}  // namespace

ErrorKind classify_sqlite_error(int extended_code, std::string_view message) {
  if (const CodeKind* exact = find_code(kExtendedKinds, extended_code)) return exact->kind;
  const int primary = extended_code & 0xff;
  if (primary == SQLITE_ERROR) {
    for (const MessageKind& rule : kErrorMessageKinds) {
      if (contains_ignoring_case(message, rule.fragment)) return rule.kind;
    }
  }
  if (const CodeKind* family = find_code(kPrimaryKinds, primary)) return family->kind;
  return ErrorKind::Internal;
}

std::string sqlite_code_name(int extended_code) {
  for (const CodeName& entry : kCodeNames) {
    if (entry.code == extended_code) return entry.name;
  }
  return std::to_string(extended_code);
}

ErrorContext sqlite_context(std::string_view sql, std::string_view table) {
  constexpr size_t kStatementChars = 200;
  ErrorContext context;
  context.engine = "sqlite";
  context.table = std::string(table);
  context.statement = std::string(sql.substr(0, kStatementChars));
  return context;
}

Error make_sqlite_error(int extended_code, std::string_view engine_message, std::string_view file,
                        std::string_view what, std::string_view sql, std::string_view table) {
  ErrorContext context = sqlite_context(sql, table);
  const std::string code = sqlite_code_name(extended_code);
  std::string message = fmt::format("sqlite {}: {} failed: {} [{}]", file.empty() ? "?" : file,
                                    what, engine_message, code);
  return Error(classify_sqlite_error(extended_code, engine_message), message, code,
               std::move(context));
}

}  // namespace parmap::sqlite
