// ReportServiceImpl: hashmatch.v1.ReportService (ingest.proto) on gRPC's
// callback API. Match servers (role replica) deliver MATCH reports; agencies
// read the reports on their own entries; auditors and admins read all.
//
//   ReportServiceImpl reports(store.get(), &authenticator,
//                             ReportServiceOptions());
//   builder.RegisterService(&reports);
//
// SubmitReports: Authorize (replica). 1..max_reports_per_call reports
// (RESOURCE_EXHAUSTED over, INVALID_ARGUMENT for none); each needs a
// report_key (<= max_key_bytes), report_id 0, 1..max_matches_per_report
// matches (a MATCH without a match is INVALID_ARGUMENT), at most
// max_hashes_per_report query hashes of at most 64 bytes each,
// content_ref <= max_content_ref_bytes, platform / agency / classification
// <= max_label_bytes (RESOURCE_EXHAUSTED for sizes, naming the report's
// index). The server sets match_server (the caller's principal name) and
// received_at_micros, then stores the batch at once (ReportStore::Append,
// synced) and answers the ids. Idempotent by (caller, report_key): a
// redelivered report gets its first id and is not stored again.
//
// ListReports: Authorize (agency, auditor, admin). An agency sees only
// reports with at least one match of its own entries (source_agency == its
// principal name), with every other agency's matches removed; the
// entry_id filter applies to what it may see. Filters: entry_id, platform,
// since/until on matched_at (until exclusive). page_size 0..max_page_size
// (0: default_page_size); next_page_token is PageTokenCodec's (garbled,
// forged or other-filter tokens are INVALID_ARGUMENT). One page scans at most
// max_scanned_per_page reports, so a page may be short with a token.
//
// WatchReports: same roles, filter and redaction; the stored reports after
// after_report_id, then each new one as it is stored, until the client
// cancels (or the server shuts down). RESOURCE_EXHAUSTED past max_streams.
// One write in flight per stream; a stream that caught up waits for Append's
// notification, it holds no thread.
//
// Thread safety: all methods may be called concurrently. `store` and
// `authenticator` are not owned and must outlive the service. REQUIRES for
// the destructor: the grpc::Server is shut down.
#ifndef HASHMATCH_SRC_INGEST_REPORT_SERVICE_H_
#define HASHMATCH_SRC_INGEST_REPORT_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/common/worker_pool.h"
#include "src/ingest/authz.h"
#include "src/ingest/page_token.h"
#include "src/ingest/report_store.h"

namespace hashmatch {
namespace ingest {

struct ReportServiceOptions {
  // Reports in one SubmitReports call. Default 1000.
  int max_reports_per_call = 1000;
  // Query hashes / matches in one report. Defaults 64 / 256.
  int max_hashes_per_report = 64;
  int max_matches_per_report = 256;
  // Bytes of report_key, content_ref, and of platform / source_agency /
  // classification. Defaults 256, 1024, 256.
  int max_key_bytes = 256;
  int max_content_ref_bytes = 1024;
  int max_label_bytes = 256;
  // ListReports page sizes. Defaults 100, 1000.
  int default_page_size = 100;
  int max_page_size = 1000;
  // Reports read per ListReports page at most. Default 10000.
  int max_scanned_per_page = 10000;
  // WatchReports streams open at once. Default 16.
  int max_streams = 16;
  // Threads that run SubmitReports / ListReports (RocksDB I/O off the gRPC
  // callback threads). Default 2.
  int worker_threads = 2;
  // HMAC key of page tokens (empty: random per process).
  std::string page_token_key;
  // Clock for received_at, microseconds since the epoch (empty: system).
  std::function<int64_t()> now_micros;
};

class ReportServiceImpl final
    : public hashmatch::v1::ReportService::CallbackService {
 public:
  ReportServiceImpl(ReportStore* store, const Authenticator* authenticator,
                    const ReportServiceOptions& options);
  // Opens (creates) the ReportStore at `dir`, owned by the service.
  static absl::StatusOr<std::unique_ptr<ReportServiceImpl>> Open(
      const std::string& dir, const Authenticator* authenticator,
      const ReportServiceOptions& options);
  ~ReportServiceImpl() override;
  ReportServiceImpl(const ReportServiceImpl&) = delete;
  ReportServiceImpl& operator=(const ReportServiceImpl&) = delete;

  int active_streams() const { return active_streams_.load(); }
  // Ends waiting and future WatchReports steps with UNAVAILABLE "server
  // draining" (ingest_server's drain hook).
  void StartDraining();

  // The work of the RPCs, for the service and tests.
  absl::StatusOr<hashmatch::v1::SubmitReportsResponse> Submit(
      const hashmatch::v1::Principal& caller,
      const hashmatch::v1::SubmitReportsRequest& request);
  absl::StatusOr<hashmatch::v1::ListReportsResponse> List(
      const hashmatch::v1::Principal& caller,
      const hashmatch::v1::ListReportsRequest& request) const;

  grpc::ServerUnaryReactor* SubmitReports(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::SubmitReportsRequest* request,
      hashmatch::v1::SubmitReportsResponse* response) override;
  grpc::ServerUnaryReactor* ListReports(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::ListReportsRequest* request,
      hashmatch::v1::ListReportsResponse* response) override;
  grpc::ServerWriteReactor<hashmatch::v1::MatchReport>* WatchReports(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::WatchReportsRequest* request) override;

 private:
  class Stream;

  // Reports after `after_id` visible to `caller` under `filter`, redacted,
  // up to `limit`, scanning at most `max_scan`; *last_scanned is the last
  // id looked at (after_id if none).
  absl::Status Collect(const hashmatch::v1::Principal& caller,
                       const hashmatch::v1::ReportFilter& filter,
                       uint64_t after_id, size_t limit, size_t max_scan,
                       std::vector<hashmatch::v1::MatchReport>* out,
                       uint64_t* last_scanned, bool* stopped) const;
  void WakeWaiters();
  void Park(Stream* stream);
  bool Unpark(Stream* stream);
  int64_t Now() const;

  std::unique_ptr<ReportStore> owned_store_;
  ReportStore* const store_;
  const Authenticator* const authenticator_;
  const ReportServiceOptions options_;
  const PageTokenCodec page_tokens_;
  std::atomic<int> active_streams_{0};
  std::atomic<bool> draining_{false};
  std::mutex waiters_mu_;
  std::set<Stream*> waiters_ ABSL_GUARDED_BY(waiters_mu_);
  std::unique_ptr<WorkerPool> pool_;
};

// Validates a report filter (non-negative times, since < until when both).
absl::Status ValidateReportFilter(const hashmatch::v1::ReportFilter& filter);

}  // namespace ingest
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_INGEST_REPORT_SERVICE_H_
