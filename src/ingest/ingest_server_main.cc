// ingest_server: the hashmatch ingestion server. See --help and
// src/ingest/ingest_server.h.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "src/ingest/ingest_server.h"
#include "src/ingest/ingest_server_config.h"
#include "src/server/json_log.h"

int main(int argc, char** argv) {
  using hashmatch::server::LogLine;
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<hashmatch::ingest::IngestServerConfig> config =
      hashmatch::ingest::ParseIngestServerConfig(
          args, hashmatch::SystemEnvironment());
  if (!config.ok()) {
    LogLine("error", "startup_error")
        .Str("message", config.status().message())
        .Str("hint", "ingest_server --help lists the flags")
        .Emit();
    return hashmatch::ingest::kExitStartupError;
  }
  if (config->help) {
    std::cout << hashmatch::ingest::IngestServerHelpText();
    return 0;
  }
  const int code = hashmatch::ingest::RunIngestServer(*config);
  // Everything was closed and logged; skip static teardown (gRPC's global
  // shutdown takes over a second).
  std::cout.flush();
  std::_Exit(code);
}
