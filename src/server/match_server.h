// RunMatchServer: the whole match_server process behind main().
//
//   ASSIGN_OR_RETURN(ServerConfig config, ParseServerConfig(args, env));
//   return RunMatchServer(config);   // blocks until drained
//
// Startup, in order: tokens file, TLS files, metrics endpoint, hash store
// (opened or created) are checked; any failure logs one JSON "startup_error"
// line and returns 2. Then gRPC serves at once (MatchService answers
// UNAVAILABLE "index loading"; health "" and "hashmatch.v1.MatchService" are
// NOT_SERVING; reflection is on) and the port files are written, while a
// background thread seeds the demo entries (--seed_demo), builds the
// VettedIndex and the Matcher; when done, health turns SERVING and
// hashmatch_ready 1. A failure there also returns 2. A catch-up thread then
// applies new store changes every --catch_up_interval_ms.
//
// Drain: SIGTERM or SIGINT turns health NOT_SERVING, refuses new RPCs
// (UNAVAILABLE "server draining"), lets in-flight RPCs finish for up to
// --drain_seconds (then cancels them), shuts gRPC down (which also ends
// health Watch streams), stops the threads, logs "drained" and returns 0.
//
// REQUIRES: called once, from the main thread, before any other thread is
// started (SIGTERM/SIGINT are blocked in every thread and taken with
// sigtimedwait).
#ifndef HASHMATCH_SRC_SERVER_MATCH_SERVER_H_
#define HASHMATCH_SRC_SERVER_MATCH_SERVER_H_

#include <string>

#include "absl/status/status.h"
#include "src/server/server_config.h"

namespace hashmatch {
namespace server {

// Process exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitStartupError = 2;

int RunMatchServer(const ServerConfig& config);

// Writes `contents` to `path` through a temporary file in the same
// directory and rename(2), so readers see all of it or nothing. The file is
// created with permission bits `mode` (less the umask): 0600 for secrets.
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& contents, int mode = 0644);

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_MATCH_SERVER_H_
