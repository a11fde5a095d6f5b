// ServerConfig: match_server's settings from command-line flags with an
// environment fallback.
//
//   ASSIGN_OR_RETURN(ServerConfig config,
//                    ParseServerConfig(args, SystemEnvironment()));
//   if (config.help) { std::cout << ServerHelpText(); return 0; }
//
// Flags are parsed by FlagSet (src/common/flag_set.h): every flag --name may
// also be set by the environment variable HASHMATCH_<NAME IN UPPER CASE>
// (e.g. HASHMATCH_MAX_BATCH=8); a flag given on the command line wins. A
// variable that is set but empty counts as the empty string (e.g.
// HASHMATCH_METRICS_LISTEN= disables metrics).
//
// Errors (INVALID_ARGUMENT, naming the flag or variable): those of
// FlagSet::Parse, and --db missing,
// --tls_cert without --tls_key (or the reverse), --tls_client_ca without
// --tls_cert, --seed_demo with --follow (a follower writes only what the
// primary sends), a --follow_* flag without --follow, --follow_tls_cert
// without --follow_tls_key (or the reverse) or without --follow_tls_ca.
//
// Thread safety: pure functions.
#ifndef HASHMATCH_SRC_SERVER_SERVER_CONFIG_H_
#define HASHMATCH_SRC_SERVER_SERVER_CONFIG_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/common/flag_set.h"

namespace hashmatch {
namespace server {

struct ServerConfig {
  bool help = false;  // --help: print ServerHelpText() and exit 0.
  std::string db;     // Required: store directory (created if missing).
  bool seed_demo = false;
  std::string listen = "127.0.0.1:50051";
  std::string port_file;
  std::string metrics_listen = "127.0.0.1:9464";  // Empty: no HTTP endpoint.
  std::string metrics_port_file;
  int max_concurrent_rpcs = 64;
  int64_t max_request_bytes = int64_t{64} << 20;
  int64_t max_image_bytes = int64_t{32} << 20;
  int64_t max_pixels = int64_t{64} << 20;
  // Scans of a progressive JPEG (0: no limit), wall time of one image decode
  // (0: no limit), and how long an image call may wait for a worker before
  // readiness says NOT_SERVING (0: never).
  int max_jpeg_scans = 64;
  // Per caller (platform): MatchService calls in flight and image bytes they
  // hold (0: no limit).
  int max_calls_per_principal = 32;
  int64_t max_bytes_per_principal = int64_t{256} << 20;
  // Threads decoding and hashing images; 0: one per core.
  int image_workers = 0;
  int64_t max_decode_ms = 5000;
  int64_t max_queue_wait_ms = 2000;
  // JSON log output (json_log.h LogOptions): a file instead of stderr, its
  // rotation, and sampling of routine per-RPC lines.
  std::string log_file;
  int64_t log_rotate_bytes = 0;
  int log_keep_files = 5;
  int log_sample_ok_rpcs = 1;
  // Capture what libraries write to stderr as escaped JSON log lines.
  bool capture_library_output = true;
  int max_batch = 16;
  int max_hashes = 16;
  int pdq_threshold = 31;
  int pdq_quality_gate = 50;
  bool dihedral = true;
  // PDQ query hashes also searched among video entries' frames by default.
  bool video_frames = true;
  // MatchVideo (VideoMatcherOptions / VideoDecodeOptions defaults).
  int64_t max_video_bytes = int64_t{256} << 20;
  int max_video_seconds = 7200;
  int max_video_decode_seconds = 120;
  int max_video_frames = 20000;
  int max_concurrent_videos = 4;
  // An admitted MatchVideo ends (DEADLINE_EXCEEDED, its slot freed) when no
  // message comes for this long, or when its upload takes longer in all.
  int video_idle_timeout_seconds = 20;
  int video_upload_timeout_seconds = 300;
  int video_query_match_percent = 80;
  int video_compared_match_percent = 0;
  std::string tokens_file;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  int catch_up_interval_ms = 200;
  int drain_seconds = 10;
  // --follow: the ingestion server (primary) whose change feed keeps --db.
  std::string follow;
  std::string follow_token_file;
  std::string follow_tls_ca;
  std::string follow_tls_cert;
  std::string follow_tls_key;
  std::string follow_tls_server_name;
  std::string follow_name;
  int follow_max_lag_seconds = 60;  // 0: lag never makes it NOT_SERVING.
  // Match reports (report_config in server_config.cc): every MATCH is queued
  // durably in --report_queue and delivered to --report_to's ReportService.
  std::string report_to;
  std::string report_queue;
  int report_queue_max = 100000;
  int report_batch = 100;
  std::string report_token_file;
  std::string report_tls_ca;
  std::string report_tls_cert;
  std::string report_tls_key;
  std::string report_tls_server_name;
  // Index snapshot (BindSnapshotFlags): empty dir = off.
  std::string snapshot_dir;
  int snapshot_interval_seconds = 600;  // 0: saved only at drain.
};

// The generic machinery (flag forms, environment fallback, help text) is
// src/common/flag_set.h; these are its names in this namespace.
using ::hashmatch::EnvLookup;
using ::hashmatch::SystemEnvironment;

// `args` excludes argv[0].
absl::StatusOr<ServerConfig> ParseServerConfig(
    const std::vector<std::string>& args, const EnvLookup& env);

// The --help text: every flag, its variable, default and meaning.
std::string ServerHelpText();

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_SERVER_CONFIG_H_
