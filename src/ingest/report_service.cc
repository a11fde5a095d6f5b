#include "src/ingest/report_service.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "src/common/status_util.h"

namespace hashmatch {
namespace ingest {

namespace v1 = ::hashmatch::v1;

namespace {

constexpr size_t kMaxHashBytes = 64;
// Reports read per WatchReports step (at most this many are buffered).
constexpr size_t kWatchBatch = 64;
constexpr size_t kWatchScan = 4096;

bool SeesAll(const v1::Principal& p) {
  return HasRole(p, v1::ROLE_AUDITOR) || HasRole(p, v1::ROLE_ADMIN);
}

absl::Status TooBig(int index, absl::string_view what, size_t got, int limit) {
  return absl::ResourceExhaustedError(absl::StrCat(
      "reports[", index, "].", what, " is ", got, ", over the limit ", limit));
}

// Removes other agencies' matches when `caller` sees only its own; true if
// the report is visible under `filter`.
bool Visible(const v1::Principal& caller, const v1::ReportFilter& filter,
             v1::MatchReport* r) {
  if (!SeesAll(caller)) {
    auto* matches = r->mutable_matches();
    matches->erase(std::remove_if(matches->begin(), matches->end(),
                                  [&](const v1::ReportedMatch& m) {
                                    return m.source_agency() != caller.name();
                                  }),
                   matches->end());
    if (matches->empty()) return false;
  }
  if (filter.entry_id() != 0 &&
      std::none_of(r->matches().begin(), r->matches().end(),
                   [&](const v1::ReportedMatch& m) {
                     return m.entry_id() == filter.entry_id();
                   })) {
    return false;
  }
  if (!filter.platform().empty() && r->platform() != filter.platform()) {
    return false;
  }
  if (filter.since_micros() != 0 &&
      r->matched_at_micros() < filter.since_micros()) {
    return false;
  }
  if (filter.until_micros() != 0 &&
      r->matched_at_micros() >= filter.until_micros()) {
    return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateReportFilter(const v1::ReportFilter& f) {
  if (f.since_micros() < 0 || f.until_micros() < 0) {
    return absl::InvalidArgumentError(
        "filter.since_micros and filter.until_micros must not be negative");
  }
  if (f.since_micros() != 0 && f.until_micros() != 0 &&
      f.since_micros() >= f.until_micros()) {
    return absl::InvalidArgumentError(
        "filter.since_micros must be before filter.until_micros");
  }
  return absl::OkStatus();
}

// One WatchReports call. The stream is owned by whoever runs Pump: the
// gRPC thread of Start/OnWriteDone, or the thread that took it off the
// waiters set (WakeWaiters, OnCancel, Pump's own re-check).
class ReportServiceImpl::Stream
    : public grpc::ServerWriteReactor<v1::MatchReport> {
 public:
  Stream(ReportServiceImpl* service, grpc::CallbackServerContext* context,
         const v1::WatchReportsRequest& request)
      : service_(service),
        context_(context),
        filter_(request.filter()),
        after_(request.after_report_id()) {}

  void Start() {
    absl::StatusOr<v1::Principal> who =
        Authorize(*service_->authenticator_, CredentialsOf(*context_),
                  IngestRpc::kWatchReports);
    absl::Status status = who.status();
    if (status.ok()) {
      caller_ = *std::move(who);
      status = ValidateReportFilter(filter_);
    }
    if (status.ok() &&
        service_->active_streams_.load() > service_->options_.max_streams) {
      status = absl::ResourceExhaustedError(
          absl::StrCat("too many WatchReports streams (limit ",
                       service_->options_.max_streams, ")"));
    }
    if (!status.ok()) {
      Finish(ToGrpcStatus(status));
      return;
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                          "stream cancelled or write failed"));
      return;
    }
    Pump();
  }

  void OnCancel() override {
    cancelled_.store(true);
    if (service_->Unpark(this)) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
    }
  }

  void OnDone() override {
    service_->active_streams_.fetch_sub(1);
    delete this;
  }

  // Writes the next report, or parks when caught up. REQUIRES: no write in
  // flight and the caller owns the stream.
  void Pump() {
    for (;;) {
      if (cancelled_.load()) {
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
        return;
      }
      if (service_->draining_.load()) {
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server draining"));
        return;
      }
      if (!buffer_.empty()) {
        current_ = std::move(buffer_.front());
        buffer_.pop_front();
        StartWrite(&current_);
        return;
      }
      std::vector<v1::MatchReport> batch;
      uint64_t last = after_;
      bool stopped = false;
      absl::Status s = service_->Collect(caller_, filter_, after_, kWatchBatch,
                                         kWatchScan, &batch, &last, &stopped);
      if (!s.ok()) {
        Finish(ToGrpcStatus(s));
        return;
      }
      after_ = last;
      for (v1::MatchReport& r : batch) buffer_.push_back(std::move(r));
      if (!buffer_.empty() || stopped) continue;
      // Caught up: park, then look again, since a report (or a cancel, or
      // the drain) may have arrived between the scan and the park; whoever
      // takes the stream off the set owns it.
      service_->Park(this);
      if (service_->store_->last_id() <= after_ && !cancelled_.load() &&
          !service_->draining_.load()) {
        return;
      }
      if (!service_->Unpark(this)) return;
    }
  }

 private:
  ReportServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  const v1::ReportFilter filter_;
  uint64_t after_;
  v1::Principal caller_;
  std::deque<v1::MatchReport> buffer_;
  v1::MatchReport current_;
  std::atomic<bool> cancelled_{false};
};

ReportServiceImpl::ReportServiceImpl(ReportStore* store,
                                     const HashStore* entries,
                                     const Authenticator* authenticator,
                                     const ReportServiceOptions& options)
    : store_(store),
      entries_(entries),
      authenticator_(authenticator),
      options_(options),
      page_tokens_(options.page_token_key),
      pool_(std::make_unique<WorkerPool>(std::max(1, options.worker_threads))) {
}

absl::StatusOr<std::unique_ptr<ReportServiceImpl>> ReportServiceImpl::Open(
    const std::string& dir, const HashStore* entries,
    const Authenticator* authenticator, const ReportServiceOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<ReportStore> store,
                   ReportStore::Open(dir, ReportStoreOptions()));
  auto service = std::make_unique<ReportServiceImpl>(store.get(), entries,
                                                     authenticator, options);
  service->owned_store_ = std::move(store);
  return service;
}

ReportServiceImpl::~ReportServiceImpl() = default;

int64_t ReportServiceImpl::Now() const {
  if (options_.now_micros) return options_.now_micros();
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::StatusOr<v1::SubmitReportsResponse> ReportServiceImpl::Submit(
    const v1::Principal& caller, const v1::SubmitReportsRequest& request) {
  const ReportServiceOptions& o = options_;
  if (request.reports_size() == 0) {
    return absl::InvalidArgumentError("no reports");
  }
  if (request.reports_size() > o.max_reports_per_call) {
    return absl::ResourceExhaustedError(
        absl::StrCat(request.reports_size(), " reports in one call, over the ",
                     "limit ", o.max_reports_per_call));
  }
  const int64_t now = Now();
  std::vector<v1::MatchReport> reports;
  reports.reserve(request.reports_size());
  for (int i = 0; i < request.reports_size(); ++i) {
    const v1::MatchReport& r = request.reports(i);
    if (r.report_key().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("reports[", i, "].report_key is required"));
    }
    if (r.report_id() != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "reports[", i, "].report_id must be 0 (the server assigns it)"));
    }
    if (r.matches_size() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("reports[", i, "] has no matches (not a MATCH)"));
    }
    if (r.report_key().size() > static_cast<size_t>(o.max_key_bytes)) {
      return TooBig(i, "report_key bytes", r.report_key().size(),
                    o.max_key_bytes);
    }
    if (r.content_ref().size() > static_cast<size_t>(o.max_content_ref_bytes)) {
      return TooBig(i, "content_ref bytes", r.content_ref().size(),
                    o.max_content_ref_bytes);
    }
    if (r.platform().size() > static_cast<size_t>(o.max_label_bytes)) {
      return TooBig(i, "platform bytes", r.platform().size(),
                    o.max_label_bytes);
    }
    if (r.query_hashes_size() > o.max_hashes_per_report) {
      return TooBig(i, "query_hashes count", r.query_hashes_size(),
                    o.max_hashes_per_report);
    }
    if (r.matches_size() > o.max_matches_per_report) {
      return TooBig(i, "matches count", r.matches_size(),
                    o.max_matches_per_report);
    }
    for (const v1::ReportedHash& h : r.query_hashes()) {
      if (h.hash().size() > kMaxHashBytes) {
        return TooBig(i, "query_hashes[].hash bytes", h.hash().size(),
                      kMaxHashBytes);
      }
    }
    for (const v1::ReportedMatch& m : r.matches()) {
      if (m.source_agency().size() > static_cast<size_t>(o.max_label_bytes) ||
          m.classification().size() > static_cast<size_t>(o.max_label_bytes)) {
        return TooBig(
            i, "matches[].source_agency/classification bytes",
            std::max(m.source_agency().size(), m.classification().size()),
            o.max_label_bytes);
      }
      if (m.entry_id() == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("reports[", i, "].matches[].entry_id is 0"));
      }
    }
    v1::MatchReport stored = r;
    stored.set_match_server(caller.name());
    stored.set_received_at_micros(now);
    reports.push_back(std::move(stored));
  }
  RETURN_IF_ERROR(CheckAgainstEntries(reports));
  ASSIGN_OR_RETURN(std::vector<uint64_t> ids, store_->Append(reports));
  WakeWaiters();
  v1::SubmitReportsResponse response;
  for (uint64_t id : ids) response.add_report_ids(id);
  return response;
}

absl::Status ReportServiceImpl::CheckAgainstEntries(
    const std::vector<v1::MatchReport>& reports) const {
  const uint64_t last_sequence = entries_->LastSequence();
  // What the checks need of an entry, read once per call.
  struct Owner {
    v1::SignalType signal_type;
    std::string source_agency;
    std::string hash;
  };
  absl::flat_hash_map<uint64_t, Owner> owners;
  for (size_t i = 0; i < reports.size(); ++i) {
    const v1::MatchReport& r = reports[i];
    if (r.index_sequence() > last_sequence) {
      return absl::FailedPreconditionError(
          absl::StrCat("reports[", i, "].index_sequence ", r.index_sequence(),
                       " is ahead of this store's sequence ", last_sequence,
                       ": the match server follows another store"));
    }
    for (int j = 0; j < r.matches_size(); ++j) {
      const v1::ReportedMatch& m = r.matches(j);
      const std::string where = absl::StrCat("reports[", i, "].matches[", j,
                                             "]: entry ", m.entry_id());
      auto it = owners.find(m.entry_id());
      if (it == owners.end()) {
        absl::StatusOr<v1::Entry> entry = entries_->Get(m.entry_id());
        if (absl::IsNotFound(entry.status())) {
          return absl::FailedPreconditionError(
              absl::StrCat(where,
                           " does not exist in this store (a report of a "
                           "match server that follows another store?)"));
        }
        if (!entry.ok()) return entry.status();
        it = owners
                 .emplace(m.entry_id(),
                          Owner{entry->signal_type(), entry->source_agency(),
                                entry->hash()})
                 .first;
      }
      const Owner& owner = it->second;
      if (m.signal_type() != owner.signal_type) {
        return absl::FailedPreconditionError(
            absl::StrCat(where, " is ", v1::SignalType_Name(owner.signal_type),
                         ", not the reported ",
                         v1::SignalType_IsValid(m.signal_type())
                             ? v1::SignalType_Name(m.signal_type())
                             : absl::StrCat("signal type ", m.signal_type())));
      }
      if (m.source_agency() != owner.source_agency) {
        return absl::FailedPreconditionError(
            absl::StrCat(where, " belongs to agency \"", owner.source_agency,
                         "\", not to the reported source_agency \"",
                         m.source_agency(), "\""));
      }
      if (owner.signal_type == v1::SIGNAL_TYPE_MD5 ||
          owner.signal_type == v1::SIGNAL_TYPE_SHA256) {
        const bool carried =
            std::any_of(r.query_hashes().begin(), r.query_hashes().end(),
                        [&](const v1::ReportedHash& h) {
                          return h.signal_type() == owner.signal_type &&
                                 h.hash() == owner.hash;
                        });
        if (!carried) {
          return absl::FailedPreconditionError(absl::StrCat(
              where,
              " is an exact match, but no query hash of the report "
              "equals its ",
              v1::SignalType_Name(owner.signal_type)));
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ReportServiceImpl::Collect(const v1::Principal& caller,
                                        const v1::ReportFilter& filter,
                                        uint64_t after_id, size_t limit,
                                        size_t max_scan,
                                        std::vector<v1::MatchReport>* out,
                                        uint64_t* last_scanned,
                                        bool* stopped) const {
  *last_scanned = after_id;
  *stopped = false;
  size_t scanned = 0;
  const ReportStore::Visitor visit = [&](const v1::MatchReport& stored) {
    *last_scanned = stored.report_id();
    v1::MatchReport r = stored;
    if (Visible(caller, filter, &r)) out->push_back(std::move(r));
    if (out->size() >= limit || ++scanned >= max_scan) {
      *stopped = true;
      return false;
    }
    return true;
  };
  if (filter.entry_id() != 0) {
    return store_->ForEachOfEntry(filter.entry_id(), after_id, visit);
  }
  if (SeesAll(caller)) return store_->ForEach(after_id, visit);
  return store_->ForEachOfAgency(caller.name(), after_id, visit);
}

absl::StatusOr<v1::ListReportsResponse> ReportServiceImpl::List(
    const v1::Principal& caller, const v1::ListReportsRequest& request) const {
  if (request.page_size() < 0 || request.page_size() > options_.max_page_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be in 0..", options_.max_page_size,
                     ", got ", request.page_size()));
  }
  RETURN_IF_ERROR(ValidateReportFilter(request.filter()));
  const std::string filter_bytes = request.filter().SerializeAsString();
  uint64_t after_id = 0;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(after_id,
                     page_tokens_.Decode(request.page_token(), filter_bytes));
  }
  const size_t page_size =
      static_cast<size_t>(request.page_size() == 0 ? options_.default_page_size
                                                   : request.page_size());
  std::vector<v1::MatchReport> reports;
  uint64_t last = after_id;
  bool stopped = false;
  RETURN_IF_ERROR(Collect(caller, request.filter(), after_id, page_size,
                          static_cast<size_t>(options_.max_scanned_per_page),
                          &reports, &last, &stopped));
  v1::ListReportsResponse response;
  for (v1::MatchReport& r : reports) *response.add_reports() = std::move(r);
  if (stopped) {
    response.set_next_page_token(page_tokens_.Encode(last, filter_bytes));
  }
  return response;
}

void ReportServiceImpl::Park(Stream* stream) {
  std::lock_guard<std::mutex> lock(waiters_mu_);
  waiters_.insert(stream);
}

bool ReportServiceImpl::Unpark(Stream* stream) {
  std::lock_guard<std::mutex> lock(waiters_mu_);
  return waiters_.erase(stream) == 1;
}

void ReportServiceImpl::WakeWaiters() {
  std::set<Stream*> woken;
  {
    std::lock_guard<std::mutex> lock(waiters_mu_);
    woken.swap(waiters_);
  }
  for (Stream* s : woken) s->Pump();
}

void ReportServiceImpl::StartDraining() {
  draining_.store(true);
  WakeWaiters();
}

grpc::ServerUnaryReactor* ReportServiceImpl::SubmitReports(
    grpc::CallbackServerContext* context,
    const v1::SubmitReportsRequest* request,
    v1::SubmitReportsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<v1::Principal> who = Authorize(
      *authenticator_, CredentialsOf(*context), IngestRpc::kSubmitReports);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  pool_->Submit([this, reactor, request, response, caller = *std::move(who)] {
    absl::StatusOr<v1::SubmitReportsResponse> r = Submit(caller, *request);
    if (r.ok()) *response = *std::move(r);
    reactor->Finish(ToGrpcStatus(r.status()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* ReportServiceImpl::ListReports(
    grpc::CallbackServerContext* context, const v1::ListReportsRequest* request,
    v1::ListReportsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<v1::Principal> who = Authorize(
      *authenticator_, CredentialsOf(*context), IngestRpc::kListReports);
  if (!who.ok()) {
    reactor->Finish(ToGrpcStatus(who.status()));
    return reactor;
  }
  pool_->Submit([this, reactor, request, response, caller = *std::move(who)] {
    absl::StatusOr<v1::ListReportsResponse> r = List(caller, *request);
    if (r.ok()) *response = *std::move(r);
    reactor->Finish(ToGrpcStatus(r.status()));
  });
  return reactor;
}

grpc::ServerWriteReactor<v1::MatchReport>* ReportServiceImpl::WatchReports(
    grpc::CallbackServerContext* context,
    const v1::WatchReportsRequest* request) {
  active_streams_.fetch_add(1);
  auto* stream = new Stream(this, context, *request);
  stream->Start();
  return stream;
}

}  // namespace ingest
}  // namespace hashmatch
