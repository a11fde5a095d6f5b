// IngestServerConfig: ingest_server's settings from command-line flags with
// an environment fallback (FlagSet, src/common/flag_set.h: every flag --name
// may also be set by HASHMATCH_<NAME>; the flag wins).
//
//   ASSIGN_OR_RETURN(IngestServerConfig config,
//                    ParseIngestServerConfig(args, SystemEnvironment()));
//   if (config.help) { std::cout << IngestServerHelpText(); return 0; }
//
// Errors (INVALID_ARGUMENT, naming the flag or variable): those of
// FlagSet::Parse; --data missing; --listen empty; --tls_cert without
// --tls_key (or the reverse); --tls_client_ca without --tls_cert;
// --bootstrap_admin without --bootstrap_token_file (or the reverse); a
// --bootstrap_admin that is not a valid principal name; --audit_verify other
// than full or incremental.
//
// Thread safety: pure functions.
#ifndef HASHMATCH_SRC_INGEST_INGEST_SERVER_CONFIG_H_
#define HASHMATCH_SRC_INGEST_INGEST_SERVER_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/flag_set.h"

namespace hashmatch {
namespace ingest {

struct IngestServerConfig {
  bool help = false;  // --help: print IngestServerHelpText() and exit 0.
  // Required: the data directory (DATA/store, DATA/principals, DATA/audit,
  // DATA/reports); created if missing.
  std::string data;
  std::string listen = "127.0.0.1:50061";
  std::string port_file;
  std::string metrics_listen = "127.0.0.1:9465";  // Empty: no HTTP endpoint.
  std::string metrics_port_file;
  int64_t max_request_bytes = int64_t{64} << 20;
  // JSON log output (src/server/json_log.h LogOptions): a file of mode 0600
  // instead of stderr and its rotation.
  std::string log_file;
  int64_t log_rotate_bytes = 0;
  int log_keep_files = 5;
  // Capture what libraries (libjpeg, libpng, OpenCV, FFmpeg) write to
  // stderr while agencies' media is decoded, as escaped library_message
  // lines, instead of letting it into the log stream raw.
  bool capture_library_output = true;
  // Submitted images: a JPEG with more scans, or a decode taking longer,
  // is refused with RESOURCE_EXHAUSTED (DecodeOptions).
  int max_jpeg_scans = 64;
  int64_t max_decode_ms = 5000;
  // Distinct agencies that must stand behind an entry before it matches.
  int quorum = 1;
  // Submissions per Submit / SubmitStream message.
  int max_batch = 1000;
  // A platform's Dispute with `suspend` makes the entry DISPUTED (stops
  // matching until resolved); off, a dispute only flags the entry.
  bool allow_platform_suspend = false;
  // Largest image an agency with may_submit_media may submit (encoded).
  int64_t max_image_bytes = int64_t{32} << 20;
  int max_principals = 10000;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // On a principal table with no active admin: create this admin and write
  // its token to bootstrap_token_file (mode 0600).
  std::string bootstrap_admin;
  std::string bootstrap_token_file;
  // Ed25519 signing key (PEM) for audit checkpoints. Empty: DATA/audit/
  // signing.key, generated (with signing.pub) on first start.
  std::string audit_key;
  int audit_checkpoint_interval = 64;
  // How the audit log is verified at start: "incremental" (from the signed
  // checkpoint the previous start or close recorded in DATA/audit/
  // audit.state) or "full" (every record). See docs/ingestion.md.
  std::string audit_verify = "incremental";
  int drain_seconds = 10;
  // A SubmitStream waiting this long for its next request ends with
  // DEADLINE_EXCEEDED (IngestServiceOptions::stream_idle_timeout_ms); a
  // WatchChanges write stalled this long cancels the stream
  // (ReplicationServiceOptions::write_stall_timeout_ms).
  int stream_idle_timeout_seconds = 30;

  // Limits of the services (IngestOptions, IngestServiceOptions,
  // ReportServiceOptions, ReplicationServiceOptions, AuditServiceOptions;
  // each field's meaning and default is the option's of the same name).
  int64_t max_image_pixels = int64_t{64} << 20;
  int max_external_id_bytes = 256;
  int max_note_bytes = 4096;
  int max_disputes_per_entry = 100;
  int max_page_size = 1000;
  int max_queued_calls = 256;
  int max_submit_streams = 64;
  int max_exports = 8;
  int max_watch_streams = 64;
  int max_audit_streams = 8;
  int max_reports_per_call = 1000;
  int max_report_hashes = 64;
  int max_report_matches = 256;
  int max_content_ref_bytes = 1024;
  int max_report_streams = 16;
  int max_video_frames = 16384;
  int worker_threads = 2;
};

// `args` excludes argv[0].
absl::StatusOr<IngestServerConfig> ParseIngestServerConfig(
    const std::vector<std::string>& args, const EnvLookup& env);

// The --help text: every flag, its variable, default and meaning.
std::string IngestServerHelpText();

}  // namespace ingest
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_INGEST_INGEST_SERVER_CONFIG_H_
