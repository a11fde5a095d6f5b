// match_server: the hashmatch MatchService gRPC server. See --help and
// src/server/match_server.h.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "src/server/json_log.h"
#include "src/server/match_server.h"
#include "src/server/server_config.h"

int main(int argc, char** argv) {
  using hashmatch::server::LogLine;
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<hashmatch::server::ServerConfig> config =
      hashmatch::server::ParseServerConfig(
          args, hashmatch::server::SystemEnvironment());
  if (!config.ok()) {
    LogLine("error", "startup_error")
        .Str("message", config.status().message())
        .Str("hint", "match_server --help lists the flags")
        .Emit();
    return hashmatch::server::kExitStartupError;
  }
  if (config->help) {
    std::cout << hashmatch::server::ServerHelpText();
    return 0;
  }
  const int code = hashmatch::server::RunMatchServer(*config);
  // Everything RunMatchServer opened is closed and every log line written;
  // skip static teardown, where gRPC's global shutdown takes over a second.
  std::cout.flush();
  std::_Exit(code);
}
