#include "tools/flags.h"

#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace hashmatch {
namespace cli {

bool ParsedFlags::Has(absl::string_view name) const {
  return values_.find(name) != values_.end();
}

std::optional<std::string> ParsedFlags::Get(absl::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<int64_t> ParsedFlags::GetInt(absl::string_view name, int64_t min,
                                            int64_t max,
                                            int64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  return ParseInt(it->second, min, max, absl::StrCat("--", name));
}

void FlagParser::AddBool(absl::string_view name) {
  takes_value_[std::string(name)] = false;
}

void FlagParser::AddValue(absl::string_view name) {
  takes_value_[std::string(name)] = true;
}

absl::StatusOr<ParsedFlags> FlagParser::Parse(
    const std::vector<std::string>& args) const {
  ParsedFlags out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      out.positional_.insert(out.positional_.end(), args.begin() + i + 1,
                             args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      out.positional_.push_back(arg);
      continue;
    }
    if (arg[1] != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag '", arg, "' (flags start with --)"));
    }
    absl::string_view body = absl::string_view(arg).substr(2);
    std::optional<std::string> value;
    const size_t eq = body.find('=');
    if (eq != absl::string_view::npos) {
      value = std::string(body.substr(eq + 1));
      body = body.substr(0, eq);
    }
    auto spec = takes_value_.find(body);
    if (spec == takes_value_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag '--", body, "'"));
    }
    if (out.values_.count(body) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag '--", body, "' given twice"));
    }
    if (!spec->second) {
      if (value.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag '--", body, "' takes no value"));
      }
      out.values_.emplace(std::string(body), "");
      continue;
    }
    if (!value.has_value()) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag '--", body, "' needs a value"));
      }
      value = args[++i];
    }
    if (value->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag '--", body, "' needs a non-empty value"));
    }
    out.values_.emplace(std::string(body), *std::move(value));
  }
  return out;
}

absl::StatusOr<int64_t> ParseInt(absl::string_view text, int64_t min,
                                 int64_t max, absl::string_view what) {
  // SimpleAtoi also accepts surrounding whitespace and a leading '+'.
  bool well_formed = !text.empty() && text != "-";
  for (size_t k = text.empty() || text[0] != '-' ? 0 : 1; k < text.size();
       ++k) {
    if (!std::isdigit(static_cast<unsigned char>(text[k]))) well_formed = false;
  }
  int64_t v = 0;
  if (!well_formed || !absl::SimpleAtoi(text, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", text, "' is not an integer in range"));
  }
  if (v < min || v > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", v, " is out of range [", min, ", ", max, "]"));
  }
  return v;
}

}  // namespace cli
}  // namespace hashmatch
