#include "src/server/server_config.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hashmatch {
namespace server {
namespace {

// --report_* (match reports), kept apart from the other flags.
void BindReportFlags(FlagSet& f, ServerConfig* c) {
  f.String("report_to", &c->report_to,
           "send every MATCH as a report to this ingestion server's "
           "ReportService (HOST:PORT); needs --report_queue");
  f.String("report_queue", &c->report_queue,
           "directory of the durable local queue of reports not yet "
           "acknowledged by --report_to (created if missing)");
  f.Int("report_queue_max", &c->report_queue_max, 1, 100000000,
        "reports waiting at most; a MATCH beyond it is answered but its "
        "report dropped (logged, counted in hashmatch_reports{what=dropped})");
  f.Int("report_batch", &c->report_batch, 1, 1000,
        "reports per SubmitReports call");
  f.String("report_token_file", &c->report_token_file,
           "file holding the bearer token (role replica) sent to --report_to");
  f.String("report_tls_ca", &c->report_tls_ca,
           "CA certificates (PEM) to verify --report_to with; turns on TLS");
  f.String("report_tls_cert", &c->report_tls_cert,
           "client certificate (PEM) for mTLS to --report_to");
  f.String("report_tls_key", &c->report_tls_key,
           "client private key (PEM) for mTLS to --report_to");
  f.String("report_tls_server_name", &c->report_tls_server_name,
           "TLS name expected in --report_to's certificate (default: its "
           "host)");
}

// --snapshot_* (index snapshot), kept apart from the other flags.
void BindSnapshotFlags(FlagSet& f, ServerConfig* c) {
  f.String("snapshot_dir", &c->snapshot_dir,
           "directory of the index snapshot: loaded at start when it matches "
           "the store (else rebuilt from the store), saved while serving and "
           "at drain; empty disables");
  f.Int("snapshot_interval_seconds", &c->snapshot_interval_seconds, 0, 86400,
        "save the snapshot this often when the index changed; 0: only at "
        "drain (SIGTERM/SIGINT, within --drain_seconds)");
}

absl::Status ValidateReportFlags(const ServerConfig& c) {
  if (c.report_to.empty()) {
    for (const std::string* f :
         {&c.report_queue, &c.report_token_file, &c.report_tls_ca,
          &c.report_tls_cert, &c.report_tls_key, &c.report_tls_server_name}) {
      if (!f->empty()) {
        return absl::InvalidArgumentError(
            "--report_* flags need --report_to ADDR");
      }
    }
    return absl::OkStatus();
  }
  if (c.report_queue.empty()) {
    return absl::InvalidArgumentError(
        "--report_to needs --report_queue DIR (reports are queued durably "
        "until acknowledged)");
  }
  if (c.report_tls_cert.empty() != c.report_tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--report_tls_cert and --report_tls_key must be given together");
  }
  if (!c.report_tls_cert.empty() && c.report_tls_ca.empty()) {
    return absl::InvalidArgumentError(
        "--report_tls_cert (mTLS) needs --report_tls_ca");
  }
  return absl::OkStatus();
}

// Binds every flag to a field of `c`; the field's current value is the
// default shown by --help.
FlagSet BindFlags(ServerConfig* c) {
  FlagSet f("HASHMATCH_");
  f.String("db", &c->db, "hash store directory; created if missing",
           "(required)");
  f.Bool("seed_demo", &c->seed_demo,
         "add the demo entries (benign Debian photos) before serving; "
         "idempotent");
  f.String("listen", &c->listen, "gRPC address; port 0 picks a free port");
  f.String("port_file", &c->port_file,
           "write the bound gRPC port here (atomically) once serving");
  f.String("metrics_listen", &c->metrics_listen,
           "Prometheus /metrics HTTP address; empty disables; port 0 allowed");
  f.String("metrics_port_file", &c->metrics_port_file,
           "write the bound metrics port here (atomically)");
  f.Int("max_concurrent_rpcs", &c->max_concurrent_rpcs, 1, 100000,
        "MatchService RPCs in flight; beyond: RESOURCE_EXHAUSTED at once");
  f.Int("max_request_bytes", &c->max_request_bytes, 1024, int64_t{2047} << 20,
        "largest gRPC request message (64 MiB)");
  f.Int("max_image_bytes", &c->max_image_bytes, 1, int64_t{2047} << 20,
        "largest encoded image (32 MiB)");
  f.Int("max_pixels", &c->max_pixels, 1, int64_t{1} << 40,
        "most pixels an image header may declare (64 MP)");
  f.Int("max_jpeg_scans", &c->max_jpeg_scans, 0, 100000,
        "most scans of a progressive or multi-scan JPEG (each is a pass over "
        "the whole image; encoders write about 10); more: RESOURCE_EXHAUSTED; "
        "0: no limit");
  f.Int("max_calls_per_principal", &c->max_calls_per_principal, 0, 100000,
        "MatchService calls one authenticated caller (token platform or "
        "client certificate) may have in flight; more: RESOURCE_EXHAUSTED; "
        "0: no limit");
  f.Int("max_bytes_per_principal", &c->max_bytes_per_principal, 0,
        int64_t{1} << 40,
        "image bytes one caller's calls in flight may hold together (256 "
        "MiB); more: RESOURCE_EXHAUSTED; 0: no limit");
  f.Int("image_workers", &c->image_workers, 0, 1024,
        "threads that decode and hash images (MatchImage, MatchBatch); 0: one "
        "per core");
  f.Int("max_decode_ms", &c->max_decode_ms, 0, 3600000,
        "wall time one image decode may take; past it the decode stops "
        "(RESOURCE_EXHAUSTED); 0: no limit");
  f.Int("max_queue_wait_ms", &c->max_queue_wait_ms, 0, 3600000,
        "while an image call has waited longer than this for a worker, "
        "health says NOT_SERVING (saturated); 0: never");
  f.String("log_file", &c->log_file,
           "append JSON log lines to this file (0600) instead of stderr");
  f.Int("log_rotate_bytes", &c->log_rotate_bytes, 0, int64_t{1} << 40,
        "with --log_file: rotate it (FILE.1, FILE.2, ...) at this size; "
        "0: never");
  f.Int("log_keep_files", &c->log_keep_files, 0, 1000,
        "with --log_rotate_bytes: rotated files kept");
  f.Bool("capture_library_output", &c->capture_library_output,
         "log what image and video libraries print to stderr as escaped "
         "library_message JSON lines (a summary, never image bytes) instead "
         "of letting it into the log stream raw");
  f.Int("log_sample_ok_rpcs", &c->log_sample_ok_rpcs, 1, 1000000,
        "write 1 in N per-RPC lines of OK calls without a MATCH; errors and "
        "MATCH lines are always written");
  f.Int("max_batch", &c->max_batch, 1, 1024, "images per MatchBatch");
  f.Int("max_hashes", &c->max_hashes, 1, 1024, "hashes per MatchHashes");
  f.Int("pdq_threshold", &c->pdq_threshold, 0, 256,
        "default PDQ match threshold in bits");
  f.Int("pdq_quality_gate", &c->pdq_quality_gate, 0, 100,
        "PDQ quality under which an undecided query is LOW_QUALITY");
  f.Bool("dihedral", &c->dihedral,
         "look up the 8 rotations/flips of PDQ hashes by default");
  f.Bool("video_frames", &c->video_frames,
         "search PDQ query hashes among the frames of video entries too by "
         "default (a still image that is a frame of a vetted video)");
  f.Int("max_video_bytes", &c->max_video_bytes, 1, int64_t{1} << 40,
        "largest MatchVideo upload, all chunks together (256 MiB)");
  f.Int("max_video_seconds", &c->max_video_seconds, 1, 86400 * 7,
        "longest video MatchVideo decodes (2 h)");
  f.Int("max_video_decode_seconds", &c->max_video_decode_seconds, 1, 86400,
        "wall time one MatchVideo decode may take (DEADLINE_EXCEEDED)");
  f.Int("max_video_frames", &c->max_video_frames, 1, 1 << 24,
        "most query frames of one MatchVideo (sent, or kept from a decode)");
  f.Int("max_concurrent_videos", &c->max_concurrent_videos, 1, 10000,
        "MatchVideo calls at once (each holds its upload in memory)");
  f.Int("video_idle_timeout_seconds", &c->video_idle_timeout_seconds, 1, 3600,
        "a MatchVideo upload with no message (header, chunk or end) for this "
        "long ends with DEADLINE_EXCEEDED and frees its slot");
  f.Int("video_upload_timeout_seconds", &c->video_upload_timeout_seconds, 1,
        86400,
        "a MatchVideo upload not complete this long after the call started "
        "ends with DEADLINE_EXCEEDED and frees its slot (decoding after it "
        "has --max_video_decode_seconds)");
  f.Int("video_query_match_percent", &c->video_query_match_percent, 0, 100,
        "default share of the upload's frames that must match a video entry");
  f.Int("video_compared_match_percent", &c->video_compared_match_percent, 0,
        100, "default share of the entry's frames the upload must match");
  f.String("tokens_file", &c->tokens_file,
           "per-platform API tokens: lines \"PLATFORM SHA256_HEX_OF_TOKEN\"; "
           "when set, MatchService RPCs need \"authorization: Bearer TOKEN\"");
  f.String("tls_cert", &c->tls_cert,
           "server certificate chain (PEM); with --tls_key turns on TLS");
  f.String("tls_key", &c->tls_key, "server private key (PEM)");
  f.String("tls_client_ca", &c->tls_client_ca,
           "CA certificates (PEM) that client certificates must chain to: "
           "requires and verifies client certificates (mTLS)");
  f.Int("catch_up_interval_ms", &c->catch_up_interval_ms, 1, 3600000,
        "how often the index applies new store changes");
  f.Int("drain_seconds", &c->drain_seconds, 0, 3600,
        "on SIGTERM/SIGINT, how long in-flight RPCs may take to finish");
  f.String("follow", &c->follow,
           "follow the change feed of this ingestion server (HOST:PORT): an "
           "empty --db is bootstrapped from its snapshot, a filled one resumes "
           "from its last sequence; the store is written only by the feed");
  f.String("follow_token_file", &c->follow_token_file,
           "file holding the bearer token (role replica) sent to --follow");
  f.String("follow_tls_ca", &c->follow_tls_ca,
           "CA certificates (PEM) to verify --follow with; turns on TLS");
  f.String("follow_tls_cert", &c->follow_tls_cert,
           "client certificate (PEM) for mTLS to --follow");
  f.String("follow_tls_key", &c->follow_tls_key,
           "client private key (PEM) for mTLS to --follow");
  f.String("follow_tls_server_name", &c->follow_tls_server_name,
           "TLS name expected in --follow's certificate (default: its host)");
  f.String("follow_name", &c->follow_name,
           "this follower's name in the primary's logs (default: "
           "match_server@--listen)");
  f.Int("follow_max_lag_seconds", &c->follow_max_lag_seconds, 0, 86400,
        "health NOT_SERVING while a known change has waited longer than "
        "this; 0: never for lag (always NOT_SERVING until bootstrapped)");
  BindReportFlags(f, c);
  BindSnapshotFlags(f, c);
  return f;
}

}  // namespace

absl::StatusOr<ServerConfig> ParseServerConfig(
    const std::vector<std::string>& args, const EnvLookup& env) {
  ServerConfig config;
  FlagSet flags = BindFlags(&config);
  absl::Status parsed = flags.Parse(args, env);
  if (!parsed.ok()) return parsed;
  if (flags.help_requested()) {
    config.help = true;
    return config;
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
  absl::Status report = ValidateReportFlags(config);
  if (!report.ok()) return report;
  return config;
}

std::string ServerHelpText() {
  ServerConfig defaults;
  const FlagSet flags = BindFlags(&defaults);
  return absl::StrCat(
      "Usage: match_server --db DIR [flags]\n"
      "\n"
      "Serves hashmatch.v1.MatchService (gRPC) over the vetted hash store in "
      "DIR,\nwith grpc.health.v1, server reflection and Prometheus metrics.\n"
      "Every flag --name can also be set by the environment variable\n"
      "HASHMATCH_<NAME> (e.g. HASHMATCH_MAX_BATCH=8); the flag wins.\n"
      "\nFlags:\n",
      flags.HelpText(),
      "\nSignals: SIGTERM or SIGINT drains (health NOT_SERVING, new RPCs "
      "refused,\nin-flight RPCs finish within --drain_seconds) and exits 0. "
      "Startup errors exit 2.\n");
}

}  // namespace server
}  // namespace hashmatch
