#include "src/server/server_config.h"

#include <cstdlib>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace hashmatch {
namespace server {
namespace {

enum class Kind { kBool, kInt, kString };

struct FlagSpec {
  const char* name;
  Kind kind;
  int64_t min;  // kInt only.
  int64_t max;
  const char* default_text;
  const char* help;
  // Stores a parsed value; `text` for kString, `number` for kInt/kBool.
  std::function<void(ServerConfig*, const std::string& text, int64_t number)>
      set;
};

template <typename T>
std::function<void(ServerConfig*, const std::string&, int64_t)> IntField(
    T ServerConfig::*field) {
  return [field](ServerConfig* c, const std::string&, int64_t v) {
    c->*field = static_cast<T>(v);
  };
}

std::function<void(ServerConfig*, const std::string&, int64_t)> BoolField(
    bool ServerConfig::*field) {
  return [field](ServerConfig* c, const std::string&, int64_t v) {
    c->*field = v != 0;
  };
}

std::function<void(ServerConfig*, const std::string&, int64_t)> StringField(
    std::string ServerConfig::*field) {
  return [field](ServerConfig* c, const std::string& s, int64_t) {
    c->*field = s;
  };
}

const std::vector<FlagSpec>& Specs() {
  static const auto* specs = new std::vector<FlagSpec>{
      {"db", Kind::kString, 0, 0, "(required)",
       "hash store directory; created if missing",
       StringField(&ServerConfig::db)},
      {"seed_demo", Kind::kBool, 0, 1, "false",
       "add the demo entries (benign Debian photos) before serving; "
       "idempotent",
       BoolField(&ServerConfig::seed_demo)},
      {"listen", Kind::kString, 0, 0, "127.0.0.1:50051",
       "gRPC address; port 0 picks a free port",
       StringField(&ServerConfig::listen)},
      {"port_file", Kind::kString, 0, 0, "",
       "write the bound gRPC port here (atomically) once serving",
       StringField(&ServerConfig::port_file)},
      {"metrics_listen", Kind::kString, 0, 0, "127.0.0.1:9464",
       "Prometheus /metrics HTTP address; empty disables; port 0 allowed",
       StringField(&ServerConfig::metrics_listen)},
      {"metrics_port_file", Kind::kString, 0, 0, "",
       "write the bound metrics port here (atomically)",
       StringField(&ServerConfig::metrics_port_file)},
      {"max_concurrent_rpcs", Kind::kInt, 1, 100000, "64",
       "MatchService RPCs in flight; beyond: RESOURCE_EXHAUSTED at once",
       IntField(&ServerConfig::max_concurrent_rpcs)},
      {"max_request_bytes", Kind::kInt, 1024, int64_t{2047} << 20, "67108864",
       "largest gRPC request message (64 MiB)",
       IntField(&ServerConfig::max_request_bytes)},
      {"max_image_bytes", Kind::kInt, 1, int64_t{2047} << 20, "33554432",
       "largest encoded image (32 MiB)",
       IntField(&ServerConfig::max_image_bytes)},
      {"max_pixels", Kind::kInt, 1, int64_t{1} << 40, "67108864",
       "most pixels an image header may declare (64 MP)",
       IntField(&ServerConfig::max_pixels)},
      {"max_batch", Kind::kInt, 1, 1024, "16", "images per MatchBatch",
       IntField(&ServerConfig::max_batch)},
      {"max_hashes", Kind::kInt, 1, 1024, "16", "hashes per MatchHashes",
       IntField(&ServerConfig::max_hashes)},
      {"pdq_threshold", Kind::kInt, 0, 256, "31",
       "default PDQ match threshold in bits",
       IntField(&ServerConfig::pdq_threshold)},
      {"pdq_quality_gate", Kind::kInt, 0, 100, "50",
       "PDQ quality under which an undecided query is LOW_QUALITY",
       IntField(&ServerConfig::pdq_quality_gate)},
      {"dihedral", Kind::kBool, 0, 1, "true",
       "look up the 8 rotations/flips of PDQ hashes by default",
       BoolField(&ServerConfig::dihedral)},
      {"tokens_file", Kind::kString, 0, 0, "",
       "per-platform API tokens: lines \"PLATFORM SHA256_HEX_OF_TOKEN\"; when "
       "set, MatchService RPCs need \"authorization: Bearer TOKEN\"",
       StringField(&ServerConfig::tokens_file)},
      {"tls_cert", Kind::kString, 0, 0, "",
       "server certificate chain (PEM); with --tls_key turns on TLS",
       StringField(&ServerConfig::tls_cert)},
      {"tls_key", Kind::kString, 0, 0, "", "server private key (PEM)",
       StringField(&ServerConfig::tls_key)},
      {"tls_client_ca", Kind::kString, 0, 0, "",
       "CA certificates (PEM) that client certificates must chain to: "
       "requires and verifies client certificates (mTLS)",
       StringField(&ServerConfig::tls_client_ca)},
      {"catch_up_interval_ms", Kind::kInt, 1, 3600000, "200",
       "how often the index applies new store changes",
       IntField(&ServerConfig::catch_up_interval_ms)},
      {"drain_seconds", Kind::kInt, 0, 3600, "10",
       "on SIGTERM/SIGINT, how long in-flight RPCs may take to finish",
       IntField(&ServerConfig::drain_seconds)},
      {"follow", Kind::kString, 0, 0, "",
       "follow the change feed of this ingestion server (HOST:PORT): an "
       "empty --db is bootstrapped from its snapshot, a filled one resumes "
       "from its last sequence; the store is written only by the feed",
       StringField(&ServerConfig::follow)},
      {"follow_token_file", Kind::kString, 0, 0, "",
       "file holding the bearer token (role replica) sent to --follow",
       StringField(&ServerConfig::follow_token_file)},
      {"follow_tls_ca", Kind::kString, 0, 0, "",
       "CA certificates (PEM) to verify --follow with; turns on TLS",
       StringField(&ServerConfig::follow_tls_ca)},
      {"follow_tls_cert", Kind::kString, 0, 0, "",
       "client certificate (PEM) for mTLS to --follow",
       StringField(&ServerConfig::follow_tls_cert)},
      {"follow_tls_key", Kind::kString, 0, 0, "",
       "client private key (PEM) for mTLS to --follow",
       StringField(&ServerConfig::follow_tls_key)},
      {"follow_tls_server_name", Kind::kString, 0, 0, "",
       "TLS name expected in --follow's certificate (default: its host)",
       StringField(&ServerConfig::follow_tls_server_name)},
      {"follow_name", Kind::kString, 0, 0, "",
       "this follower's name in the primary's logs (default: "
       "match_server@--listen)",
       StringField(&ServerConfig::follow_name)},
      {"follow_max_lag_seconds", Kind::kInt, 0, 86400, "60",
       "health NOT_SERVING while a known change has waited longer than "
       "this; 0: never for lag (always NOT_SERVING until bootstrapped)",
       IntField(&ServerConfig::follow_max_lag_seconds)},
  };
  return *specs;
}

const FlagSpec* FindSpec(absl::string_view name) {
  for (const FlagSpec& spec : Specs()) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

std::string EnvName(absl::string_view flag) {
  return absl::StrCat("HASHMATCH_", absl::AsciiStrToUpper(flag));
}

absl::StatusOr<bool> ParseBool(absl::string_view text, absl::string_view what) {
  const std::string t = absl::AsciiStrToLower(text);
  if (t == "true" || t == "1" || t == "yes") return true;
  if (t == "false" || t == "0" || t == "no") return false;
  return absl::InvalidArgumentError(absl::StrCat(
      what, ": expected true or false, got \"", absl::CEscape(text), "\""));
}

// Applies `text` to the flag `spec`; `what` names the source in errors.
absl::Status Apply(const FlagSpec& spec, const std::string& text,
                   absl::string_view what, ServerConfig* config) {
  switch (spec.kind) {
    case Kind::kBool: {
      absl::StatusOr<bool> v = ParseBool(text, what);
      if (!v.ok()) return v.status();
      spec.set(config, text, *v ? 1 : 0);
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
      spec.set(config, text, v);
      return absl::OkStatus();
    }
    case Kind::kString:
      spec.set(config, text, 0);
      return absl::OkStatus();
  }
  return absl::InternalError("unreachable");
}

}  // namespace

EnvLookup SystemEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

absl::StatusOr<ServerConfig> ParseServerConfig(
    const std::vector<std::string>& args, const EnvLookup& env) {
  ServerConfig config;
  std::set<std::string> given;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h" || arg == "--helpfull") {
      config.help = true;
      return config;
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
    const FlagSpec* spec = FindSpec(name);
    bool negated = false;
    if (spec == nullptr && absl::StartsWith(name, "no")) {
      const FlagSpec* base = FindSpec(name.substr(2));
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
    const std::string what = absl::StrCat("--", name);
    if (spec->kind == Kind::kBool) {
      if (negated) {
        spec->set(&config, "false", 0);
        continue;
      }
      absl::Status s = Apply(*spec, value.value_or("true"), what, &config);
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
    absl::Status s = Apply(*spec, *value, what, &config);
    if (!s.ok()) return s;
  }
  for (const FlagSpec& spec : Specs()) {
    if (given.count(spec.name) > 0) continue;
    const std::string var = EnvName(spec.name);
    std::optional<std::string> v = env(var);
    if (!v) continue;
    absl::Status s = Apply(spec, *v, var, &config);
    if (!s.ok()) return s;
  }
  if (config.db.empty()) {
    return absl::InvalidArgumentError(
        "--db (or HASHMATCH_DB) is required: the hash store directory");
  }
  if (config.listen.empty()) {
    return absl::InvalidArgumentError("--listen must not be empty");
  }
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key must be given together");
  }
  if (!config.tls_client_ca.empty() && config.tls_cert.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca (mTLS) needs --tls_cert and --tls_key");
  }
  if (config.follow.empty()) {
    for (const std::string* f :
         {&config.follow_token_file, &config.follow_tls_ca,
          &config.follow_tls_cert, &config.follow_tls_key,
          &config.follow_tls_server_name, &config.follow_name}) {
      if (!f->empty()) {
        return absl::InvalidArgumentError(
            "--follow_* flags need --follow ADDR");
      }
    }
  } else {
    if (config.seed_demo) {
      return absl::InvalidArgumentError(
          "--seed_demo cannot be used with --follow: a follower's store is "
          "written only by the primary's change feed");
    }
    if (config.follow_tls_cert.empty() != config.follow_tls_key.empty()) {
      return absl::InvalidArgumentError(
          "--follow_tls_cert and --follow_tls_key must be given together");
    }
    if (!config.follow_tls_cert.empty() && config.follow_tls_ca.empty()) {
      return absl::InvalidArgumentError(
          "--follow_tls_cert (mTLS) needs --follow_tls_ca");
    }
  }
  return config;
}

std::string ServerHelpText() {
  std::string out =
      "Usage: match_server --db DIR [flags]\n"
      "\n"
      "Serves hashmatch.v1.MatchService (gRPC) over the vetted hash store in "
      "DIR,\nwith grpc.health.v1, server reflection and Prometheus metrics.\n"
      "Every flag --name can also be set by the environment variable\n"
      "HASHMATCH_<NAME> (e.g. HASHMATCH_MAX_BATCH=8); the flag wins.\n"
      "\nFlags:\n";
  for (const FlagSpec& spec : Specs()) {
    const char* type = spec.kind == Kind::kBool  ? ""
                       : spec.kind == Kind::kInt ? " N"
                                                 : " VALUE";
    absl::StrAppendFormat(
        &out, "  --%s%s\n      %s\n      default: %s; env: %s\n", spec.name,
        type, spec.help, *spec.default_text ? spec.default_text : "(empty)",
        EnvName(spec.name));
  }
  out +=
      "\nSignals: SIGTERM or SIGINT drains (health NOT_SERVING, new RPCs "
      "refused,\nin-flight RPCs finish within --drain_seconds) and exits 0. "
      "Startup errors exit 2.\n";
  return out;
}

}  // namespace server
}  // namespace hashmatch
