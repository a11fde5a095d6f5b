#include "src/common/flag_set.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace hashmatch {
namespace {

absl::Status ParseBool(absl::string_view text, absl::string_view what,
                       bool* out) {
  const std::string t = absl::AsciiStrToLower(text);
  if (t == "true" || t == "1" || t == "yes") {
    *out = true;
    return absl::OkStatus();
  }
  if (t == "false" || t == "0" || t == "no") {
    *out = false;
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      what, ": expected true or false, got \"", absl::CEscape(text), "\""));
}

}  // namespace

EnvLookup SystemEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

FlagSet::FlagSet(std::string env_prefix) : env_prefix_(std::move(env_prefix)) {}

void FlagSet::String(const char* name, std::string* field, const char* help,
                     const char* default_text) {
  Spec spec;
  spec.name = name;
  spec.kind = Kind::kString;
  spec.default_text = default_text != nullptr ? default_text : *field;
  spec.help = help;
  spec.set = [field](const std::string& text, int64_t) { *field = text; };
  specs_.push_back(std::move(spec));
}

void FlagSet::Bool(const char* name, bool* field, const char* help) {
  Spec spec;
  spec.name = name;
  spec.kind = Kind::kBool;
  spec.min = 0;
  spec.max = 1;
  spec.default_text = *field ? "true" : "false";
  spec.help = help;
  spec.set = [field](const std::string&, int64_t v) { *field = v != 0; };
  specs_.push_back(std::move(spec));
}

void FlagSet::AddInt(const char* name, int64_t min, int64_t max,
                     std::string default_text, const char* help,
                     std::function<void(int64_t)> set) {
  Spec spec;
  spec.name = name;
  spec.kind = Kind::kInt;
  spec.min = min;
  spec.max = max;
  spec.default_text = std::move(default_text);
  spec.help = help;
  spec.set = [set = std::move(set)](const std::string&, int64_t v) { set(v); };
  specs_.push_back(std::move(spec));
}

const FlagSet::Spec* FlagSet::Find(absl::string_view name) const {
  for (const Spec& spec : specs_) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

std::string FlagSet::EnvName(absl::string_view name) const {
  return absl::StrCat(env_prefix_, absl::AsciiStrToUpper(name));
}

bool FlagSet::WasSet(absl::string_view name) const {
  return set_.find(name) != set_.end();
}

absl::Status FlagSet::Apply(const Spec& spec, const std::string& text,
                            absl::string_view what) const {
  switch (spec.kind) {
    case Kind::kBool: {
      bool v = false;
      absl::Status s = ParseBool(text, what, &v);
      if (!s.ok()) return s;
      spec.set(text, v ? 1 : 0);
      return absl::OkStatus();
    }
    case Kind::kInt: {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": expected an integer, got \"", absl::CEscape(text), "\""));
      }
      if (v < spec.min || v > spec.max) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": ", v, " is outside [", spec.min, ", ", spec.max, "]"));
      }
      spec.set(text, v);
      return absl::OkStatus();
    }
    case Kind::kString:
      spec.set(text, 0);
      return absl::OkStatus();
  }
  return absl::InternalError("unreachable");
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args,
                            const EnvLookup& env) {
  std::set<std::string> given;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h" || arg == "--helpfull") {
      help_requested_ = true;
      return absl::OkStatus();
    }
    if (arg.size() < 3 || arg[0] != '-' || arg[1] != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", absl::CEscape(arg),
                       "\" (flags are --name=value; see --help)"));
    }
    std::string body = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      value = body.substr(eq + 1);
      body.resize(eq);
    }
    std::string name = absl::StrReplaceAll(body, {{"-", "_"}});
    const Spec* spec = Find(name);
    bool negated = false;
    if (spec == nullptr && absl::StartsWith(name, "no")) {
      const Spec* base = Find(name.substr(2));
      if (base != nullptr && base->kind == Kind::kBool && !value) {
        spec = base;
        negated = true;
        name = name.substr(2);
      }
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", body, " (see --help)"));
    }
    if (!given.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, " given twice"));
    }
    set_.insert(name);
    const std::string what = absl::StrCat("--", name);
    if (spec->kind == Kind::kBool) {
      if (negated) {
        spec->set("false", 0);
        continue;
      }
      absl::Status s = Apply(*spec, value.value_or("true"), what);
      if (!s.ok()) return s;
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag ", what, " needs a value"));
      }
      value = args[++i];
    }
    absl::Status s = Apply(*spec, *value, what);
    if (!s.ok()) return s;
  }
  for (const Spec& spec : specs_) {
    if (given.count(spec.name) > 0) continue;
    const std::string var = EnvName(spec.name);
    std::optional<std::string> v = env(var);
    if (!v) continue;
    set_.insert(spec.name);
    absl::Status s = Apply(spec, *v, var);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string FlagSet::HelpText() const {
  std::string out;
  for (const Spec& spec : specs_) {
    const char* type = spec.kind == Kind::kBool  ? ""
                       : spec.kind == Kind::kInt ? " N"
                                                 : " VALUE";
    absl::StrAppendFormat(
        &out, "  --%s%s\n      %s\n      default: %s; env: %s\n", spec.name,
        type, spec.help,
        spec.default_text.empty() ? "(empty)" : spec.default_text,
        EnvName(spec.name));
  }
  return out;
}

}  // namespace hashmatch
