// FlagSet: a program's --flags bound to the fields of its config struct, each
// with an environment variable fallback. The server binaries (match_server,
// ingest_server) share it; the CLI has its own subcommand parser
// (tools/flags.h).
//
//   struct Config { std::string db; int max_batch = 16; bool tls = false; };
//   Config config;
//   FlagSet flags("HASHMATCH_");
//   flags.String("db", &config.db, "store directory", "(required)");
//   flags.Int("max_batch", &config.max_batch, 1, 1024, "items per batch");
//   flags.Bool("tls", &config.tls, "serve TLS");
//   RETURN_IF_ERROR(flags.Parse(args, SystemEnvironment()));
//   if (flags.help_requested()) { std::cout << flags.HelpText(); ... }
//
// Every flag --name may also be set by the environment variable
// <PREFIX><NAME IN UPPER CASE> (e.g. HASHMATCH_MAX_BATCH=8); a flag given
// on the command line wins. A variable that is set but empty counts as the
// empty string. The default shown by HelpText() is the field's value when
// the flag was added (or the `default_text` given).
//
// Accepted forms: --name=value, --name value; booleans also as --name,
// --noname, --name=true|false|1|0|yes|no. Dashes in names are read as
// underscores (--seed-demo == --seed_demo). --help, -h and --helpfull stop
// parsing and set help_requested(). Errors (INVALID_ARGUMENT, naming the
// flag or variable): unknown flag, missing value, a flag given twice, a bad
// or out-of-range number, a bad boolean, a positional argument.
//
// Thread safety: a FlagSet and the fields it writes belong to one thread.
// The bound fields must outlive the FlagSet's Parse calls.
#ifndef HASHMATCH_SRC_COMMON_FLAG_SET_H_
#define HASHMATCH_SRC_COMMON_FLAG_SET_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace hashmatch {

// Looks up an environment variable; nullopt when unset.
using EnvLookup =
    std::function<std::optional<std::string>(const std::string& name)>;

// getenv(3).
EnvLookup SystemEnvironment();

class FlagSet {
 public:
  explicit FlagSet(std::string env_prefix = "HASHMATCH_");

  void String(const char* name, std::string* field, const char* help,
              const char* default_text = nullptr);
  void Bool(const char* name, bool* field, const char* help);
  // Values outside [min, max] are INVALID_ARGUMENT.
  template <typename T>
  void Int(const char* name, T* field, int64_t min, int64_t max,
           const char* help) {
    AddInt(name, min, max, absl::StrCat(*field), help,
           [field](int64_t v) { *field = static_cast<T>(v); });
  }

  // Parses `args` (without argv[0]), then the environment for every flag not
  // given. On error the fields may be partly written.
  absl::Status Parse(const std::vector<std::string>& args,
                     const EnvLookup& env);

  bool help_requested() const { return help_requested_; }
  // True if --name was on the command line or its variable was set.
  bool WasSet(absl::string_view name) const;
  // The environment variable of flag `name`, e.g. "HASHMATCH_MAX_BATCH".
  std::string EnvName(absl::string_view name) const;

  // Every flag, in the order added:
  //   --name N
  //       help
  //       default: D; env: PREFIX_NAME
  std::string HelpText() const;

 private:
  enum class Kind { kBool, kInt, kString };
  struct Spec {
    std::string name;
    Kind kind;
    int64_t min = 0;  // kInt only.
    int64_t max = 0;
    std::string default_text;
    std::string help;
    std::function<void(const std::string& text, int64_t number)> set;
  };

  void AddInt(const char* name, int64_t min, int64_t max,
              std::string default_text, const char* help,
              std::function<void(int64_t)> set);
  const Spec* Find(absl::string_view name) const;
  absl::Status Apply(const Spec& spec, const std::string& text,
                     absl::string_view what) const;

  std::string env_prefix_;
  std::vector<Spec> specs_;
  std::set<std::string, std::less<>> set_;
  bool help_requested_ = false;
};

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_COMMON_FLAG_SET_H_
