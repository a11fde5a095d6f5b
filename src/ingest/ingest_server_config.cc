#include "src/ingest/ingest_server_config.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/ingest/principal_store.h"

namespace hashmatch {
namespace ingest {
namespace {

FlagSet BindFlags(IngestServerConfig* c) {
  FlagSet f("HASHMATCH_");
  f.String("data", &c->data,
           "data directory: store/ (the vetted hash store), principals/, "
           "audit/, reports/; created if missing",
           "(required)");
  f.String("listen", &c->listen, "gRPC address; port 0 picks a free port");
  f.String("port_file", &c->port_file,
           "write the bound gRPC port here (atomically) once serving");
  f.String("metrics_listen", &c->metrics_listen,
           "Prometheus /metrics HTTP address; empty disables; port 0 allowed");
  f.String("metrics_port_file", &c->metrics_port_file,
           "write the bound metrics port here (atomically)");
  f.Int("max_request_bytes", &c->max_request_bytes, 1024, int64_t{2047} << 20,
        "largest gRPC request message (64 MiB)");
  f.Int("quorum", &c->quorum, 1, 100,
        "distinct agencies that must stand behind an entry before it matches");
  f.Int("max_batch", &c->max_batch, 1, 3000,
        "submissions per Submit request or SubmitStream message");
  f.Bool("allow_platform_suspend", &c->allow_platform_suspend,
         "a platform's Dispute with suspend=true makes the entry DISPUTED "
         "(no longer matched until resolved); off, disputes only flag");
  f.Int("max_image_bytes", &c->max_image_bytes, 1, int64_t{2047} << 20,
        "largest image an agency allowed to submit media may send (32 MiB)");
  f.Int("max_principals", &c->max_principals, 1, 1000000,
        "most principals in the principal table (revoked ones included)");
  f.String("tls_cert", &c->tls_cert,
           "server certificate chain (PEM); with --tls_key turns on TLS");
  f.String("tls_key", &c->tls_key, "server private key (PEM)");
  f.String("tls_client_ca", &c->tls_client_ca,
           "CA certificates (PEM) that client certificates must chain to: "
           "requires and verifies client certificates (mTLS); a "
           "certificate's subject CN is a principal name");
  f.String("bootstrap_admin", &c->bootstrap_admin,
           "if no active admin exists, create an admin principal with this "
           "name (needs --bootstrap_token_file)");
  f.String("bootstrap_token_file", &c->bootstrap_token_file,
           "where the bootstrap admin's token is written (mode 0600); the "
           "token is never logged");
  f.String("audit_key", &c->audit_key,
           "Ed25519 private key (PEM) that signs audit log checkpoints; "
           "default DATA/audit/signing.key, generated with signing.pub on "
           "first start (keep it off the data disk in production)");
  f.Int("audit_checkpoint_interval", &c->audit_checkpoint_interval, 1, 1000000,
        "audit records between signed checkpoints");
  f.String("audit_verify", &c->audit_verify,
           "audit log verification at start: incremental (the records after "
           "the signed checkpoint verified at the previous start or close, "
           "recorded in DATA/audit/audit.state; the records before it are "
           "not re-read) or full (every record; `hashmatch audit verify` "
           "always is)");
  f.Int("drain_seconds", &c->drain_seconds, 0, 3600,
        "on SIGTERM/SIGINT, how long in-flight RPCs may take to finish");
  f.Int("stream_idle_timeout_seconds", &c->stream_idle_timeout_seconds, 1,
        86400,
        "a SubmitStream with no request for this long after its last "
        "response ends with DEADLINE_EXCEEDED, and a WatchChanges stream "
        "whose follower has not taken a message for this long is "
        "cancelled; either frees its slot");
  f.Int("max_image_pixels", &c->max_image_pixels, 1, int64_t{1} << 32,
        "largest submitted image, in declared pixels (64 MP)");
  f.Int("max_jpeg_scans", &c->max_jpeg_scans, 1, 100000,
        "most scans a submitted progressive JPEG may have; more: "
        "RESOURCE_EXHAUSTED");
  f.Int("max_decode_ms", &c->max_decode_ms, 0, 3600000,
        "wall time one submitted image's decode may take; past it the decode "
        "stops (RESOURCE_EXHAUSTED); 0: no limit");
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
  f.Int("max_external_id_bytes", &c->max_external_id_bytes, 1, 65536,
        "longest external_id of a submission");
  f.Int("max_note_bytes", &c->max_note_bytes, 1, 1 << 20,
        "longest note, retraction reason, dispute reason or resolution");
  f.Int("max_disputes_per_entry", &c->max_disputes_per_entry, 1, 100000,
        "disputes kept on one entry; one more is RESOURCE_EXHAUSTED");
  f.Int("max_page_size", &c->max_page_size, 1, 100000,
        "largest page_size of ListEntries and ListReports");
  f.Int("worker_threads", &c->worker_threads, 1, 256,
        "threads running ingest and report calls (store I/O) off the gRPC "
        "threads");
  f.Int("max_queued_calls", &c->max_queued_calls, 1, 1000000,
        "ingest calls waiting for or running on the workers; more are "
        "RESOURCE_EXHAUSTED at once");
  f.Int("max_submit_streams", &c->max_submit_streams, 1, 100000,
        "SubmitStream streams open at once");
  f.Int("max_exports", &c->max_exports, 1, 10000,
        "ExportEntries streams open at once (each holds a store snapshot)");
  f.Int("max_watch_streams", &c->max_watch_streams, 1, 100000,
        "WatchChanges streams (followers) open at once");
  f.Int("max_audit_streams", &c->max_audit_streams, 1, 10000,
        "ReadAuditLog streams open at once");
  f.Int("max_reports_per_call", &c->max_reports_per_call, 1, 100000,
        "match reports in one SubmitReports call");
  f.Int("max_report_hashes", &c->max_report_hashes, 1, 100000,
        "query hashes in one match report");
  f.Int("max_report_matches", &c->max_report_matches, 1, 100000,
        "matched entries in one match report");
  f.Int("max_content_ref_bytes", &c->max_content_ref_bytes, 1, 1 << 20,
        "longest content reference (the platform's id of the upload) in a "
        "match report");
  f.Int("max_report_streams", &c->max_report_streams, 1, 10000,
        "WatchReports streams open at once");
  f.Int("max_video_frames", &c->max_video_frames, 1, 16384,
        "frames of one video entry (video_hashes, or kept from a video)");
  return f;
}

}  // namespace

absl::StatusOr<IngestServerConfig> ParseIngestServerConfig(
    const std::vector<std::string>& args, const EnvLookup& env) {
  IngestServerConfig config;
  FlagSet flags = BindFlags(&config);
  absl::Status parsed = flags.Parse(args, env);
  if (!parsed.ok()) return parsed;
  if (flags.help_requested()) {
    config.help = true;
    return config;
  }
  if (config.data.empty()) {
    return absl::InvalidArgumentError(
        "--data (or HASHMATCH_DATA) is required: the data directory");
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
  if (config.bootstrap_admin.empty() != config.bootstrap_token_file.empty()) {
    return absl::InvalidArgumentError(
        "--bootstrap_admin and --bootstrap_token_file must be given together");
  }
  if (config.audit_verify != "incremental" && config.audit_verify != "full") {
    return absl::InvalidArgumentError(
        absl::StrCat("--audit_verify must be full or incremental, got \"",
                     config.audit_verify, "\""));
  }
  if (!config.bootstrap_admin.empty()) {
    absl::Status s = ValidatePrincipalName(config.bootstrap_admin);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--bootstrap_admin: ", s.message()));
    }
  }
  return config;
}

std::string IngestServerHelpText() {
  IngestServerConfig defaults;
  const FlagSet flags = BindFlags(&defaults);
  return absl::StrCat(
      "Usage: ingest_server --data DIR [flags]\n"
      "\n"
      "The ingestion server: the only writer of the vetted hash store in "
      "DIR/store.\nServes the hashmatch.v1 ingestion services (gRPC; "
      "principals and roles in\nDIR/principals), grpc.health.v1, server "
      "reflection and Prometheus metrics.\nEvery flag --name can also be set "
      "by the environment variable\nHASHMATCH_<NAME> (e.g. "
      "HASHMATCH_QUORUM=2); the flag wins.\n"
      "\nFlags:\n",
      flags.HelpText(),
      "\nFirst start: --bootstrap_admin NAME --bootstrap_token_file PATH "
      "creates the\nfirst admin; then `hashmatch admin principal add` adds "
      "the others.\n"
      "Signals: SIGTERM or SIGINT drains (health NOT_SERVING, new RPCs "
      "refused,\nin-flight RPCs finish within --drain_seconds) and exits 0. "
      "Startup errors exit 2.\n");
}

}  // namespace ingest
}  // namespace hashmatch
