// A small, strict command-line flag parser for the hashmatch CLI.
//
//   FlagParser parser;
//   parser.AddBool("json");
//   parser.AddValue("threads");
//   ASSIGN_OR_RETURN(ParsedFlags flags, parser.Parse(args));
//   if (flags.Has("json")) ...
//   ASSIGN_OR_RETURN(int threads, flags.GetInt("threads", 1, 1024, 4));
//
// Accepted forms: `--name` (boolean flags), `--name=value` and `--name value`
// (value flags). `--` ends the flags; every later argument is positional.
// Errors (INVALID_ARGUMENT): an unknown flag, a single-dash flag, a value flag
// without a value, a boolean flag given a value, a flag given twice, a
// number that does not parse or is out of range. No exception is thrown.
//
// Thread safety: value types; no shared state.
#ifndef HASHMATCH_TOOLS_FLAGS_H_
#define HASHMATCH_TOOLS_FLAGS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashmatch {
namespace cli {

class ParsedFlags {
 public:
  // True if the flag (boolean or value) was given.
  bool Has(absl::string_view name) const;
  // The value given to a value flag, if any.
  std::optional<std::string> Get(absl::string_view name) const;
  // The flag's value as an integer in [min, max], or `fallback` when absent.
  absl::StatusOr<int64_t> GetInt(absl::string_view name, int64_t min,
                                 int64_t max, int64_t fallback) const;

  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend class FlagParser;
  std::map<std::string, std::string, std::less<>> values_;
  std::vector<std::string> positional_;
};

class FlagParser {
 public:
  void AddBool(absl::string_view name);
  void AddValue(absl::string_view name);

  // Parses `args` (the arguments after the subcommand name).
  absl::StatusOr<ParsedFlags> Parse(const std::vector<std::string>& args) const;

 private:
  std::map<std::string, bool, std::less<>> takes_value_;
};

// Parses a whole decimal integer in [min, max]; `what` names it in errors.
absl::StatusOr<int64_t> ParseInt(absl::string_view text, int64_t min,
                                 int64_t max, absl::string_view what);

}  // namespace cli
}  // namespace hashmatch

#endif  // HASHMATCH_TOOLS_FLAGS_H_
