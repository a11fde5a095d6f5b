// ReportServiceImpl: hashmatch.v1.ReportService (ingest.proto) on gRPC's
// callback API. Match servers (role replica) deliver MATCH reports; agencies
// read the reports on their own entries; auditors and admins read all.
//
//   ReportServiceImpl reports(report_store.get(), hash_store,
//                             &authenticator, ReportServiceOptions());
//   builder.RegisterService(&reports);
//
// SubmitReports: Authorize (replica). 1..max_reports_per_call reports
// (RESOURCE_EXHAUSTED over, INVALID_ARGUMENT for none); each needs a
// report_key (<= max_key_bytes), report_id 0, 1..max_matches_per_report
// matches (a MATCH without a match is INVALID_ARGUMENT), at most
// max_hashes_per_report query hashes of at most 64 bytes each,
// content_ref <= max_content_ref_bytes, platform / agency / classification
// <= max_label_bytes (RESOURCE_EXHAUSTED for sizes, naming the report's
// index). Then every report is checked against the vetted store (`entries`,
// the store this server writes), because a replica's claims are not trusted
// (issue 14, defect 4): FAILED_PRECONDITION, naming reports[i].matches[j],
// unless
//   - its index_sequence is at most the store's LastSequence() (a match
//     server that follows this store is never ahead of it; one ahead follows
//     another store: the same test as WatchChanges' OUT_OF_RANGE);
//   - each matched entry exists here (tombstones count: a report on an entry
//     retracted after the match is kept, as is one on an entry that is
//     PENDING or DISPUTED now; entries are never deleted, so a match server
//     that follows this store never names a missing one);
//   - the match's signal_type is the entry's (the lane that matched is the
//     entry's signal type; an entry's signal type never changes);
//   - the match's source_agency is the entry's source_agency, its owner (the
//     agency that submitted it; ListReports shows a match to that agency
//     only). A mismatching claim is refused, not rewritten: a match server
//     of this store copies the agency from the entry, so a mismatch is a
//     forged report or one from a replica of another store;
//   - for an exact lane (MD5, SHA-256) the entry's hash is one of the
//     report's query hashes of that signal type.
// The protocol carries no store identity, so these are what tells a replica
// of an unrelated store apart; one whose store happens to hold the same
// ids with the same owners, signal types and exact hashes is not detected.
// A batch is checked whole: one refused report refuses the call and nothing
// is stored (the API has no per-report status; the match server's sender
// retries a refused batch one report at a time and drops the refused one).
// A store read error is returned as is (INTERNAL, UNAVAILABLE: retried).
// The server sets match_server (the caller's principal name) and
// received_at_micros, then stores the batch at once (ReportStore::Append,
// synced) and answers the ids. Idempotent by (caller, report_key): a
// redelivered report gets its first id and is not stored again (it passes
// the checks again: entries, owners and signal types never change, and the
// store's sequence only grows).
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
// Thread safety: all methods may be called concurrently. `store`, `entries`
// and `authenticator` are not owned and must outlive the service. REQUIRES for
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
#include "index/store/hash_store.h"
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
  // `entries`: the vetted store that reports are checked against.
  ReportServiceImpl(ReportStore* store, const HashStore* entries,
                    const Authenticator* authenticator,
                    const ReportServiceOptions& options);
  // Opens (creates) the ReportStore at `dir`, owned by the service.
  static absl::StatusOr<std::unique_ptr<ReportServiceImpl>> Open(
      const std::string& dir, const HashStore* entries,
      const Authenticator* authenticator, const ReportServiceOptions& options);
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
  // The store checks of Submit (see above).
  absl::Status CheckAgainstEntries(
      const std::vector<hashmatch::v1::MatchReport>& reports) const;
  void WakeWaiters();
  void Park(Stream* stream);
  bool Unpark(Stream* stream);
  int64_t Now() const;

  std::unique_ptr<ReportStore> owned_store_;
  ReportStore* const store_;
  const HashStore* const entries_;
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
