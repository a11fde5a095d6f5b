#include "src/server/match_service.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/common/status_util.h"
#include "src/server/json_log.h"

namespace hashmatch {
namespace server {
namespace {

namespace v1 = hashmatch::v1;

// Longest content_ref written to a log line (the Matcher rejects longer).
constexpr size_t kMaxLoggedContentRef = 256;

std::string StripPrefix(const std::string& name, absl::string_view prefix) {
  if (absl::StartsWith(name, prefix)) return name.substr(prefix.size());
  return name;
}

std::string VerdictName(v1::Verdict v) {
  return StripPrefix(v1::Verdict_Name(v), "VERDICT_");
}

std::string RuleName(v1::DecisionRule r) {
  return StripPrefix(v1::DecisionRule_Name(r), "DECISION_RULE_");
}

// Who is calling, for logs: the token's platform, else the client
// certificate's identity (mTLS), else "anonymous".
std::string CertificatePrincipal(const grpc::CallbackServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return "";
  std::vector<grpc::string_ref> ids = auth->GetPeerIdentity();
  if (ids.empty()) return "";
  return absl::StrCat("x509:", std::string(ids[0].data(), ids[0].size()));
}

std::string AuthorizationHeader(const grpc::CallbackServerContext& context) {
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// DEADLINE_EXCEEDED or CANCELLED when the caller no longer waits for an
// answer, else OK: checked before a call's work starts.
grpc::Status StillWanted(const grpc::CallbackServerContext& context) {
  if (context.deadline() <= std::chrono::system_clock::now()) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "deadline exceeded before matching");
  }
  if (context.IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED,
                        "cancelled before matching");
  }
  return grpc::Status::OK;
}

// The call's deadline on the steady clock (gRPC's is on the system clock;
// "none" is its maximum).
std::chrono::steady_clock::time_point SteadyDeadline(
    const grpc::CallbackServerContext& context) {
  const auto deadline = context.deadline();
  const auto now = std::chrono::system_clock::now();
  if (deadline <= now) return std::chrono::steady_clock::now();
  // Past a day counts as none (and keeps the sum from overflowing).
  if (deadline - now > std::chrono::hours(24)) {
    return std::chrono::steady_clock::time_point::max();
  }
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
             deadline - now);
}

}  // namespace

std::string DecodeFailureReason(const absl::Status& status) {
  if (status.ok()) return "";
  const std::string message = absl::AsciiStrToLower(status.message());
  if (absl::StrContains(message, "content_ref") ||
      absl::StrContains(message, "option") ||
      absl::StrContains(message, "threshold") ||
      absl::StrContains(message, "signal") ||
      absl::StrContains(message, "max_matches")) {
    return "";
  }
  if (status.code() == absl::StatusCode::kResourceExhausted) {
    if (absl::StrContains(message, "scans") ||
        absl::StrContains(message, "took longer")) {
      return "too_costly";
    }
    return "too_large";
  }
  if (status.code() != absl::StatusCode::kInvalidArgument) return "";
  if (absl::StrContains(message, "empty")) return "empty";
  if (absl::StrContains(message, "unrecognised") ||
      absl::StrContains(message, "unrecognized") ||
      absl::StrContains(message, "not supported") ||
      absl::StrContains(message, "unsupported") ||
      absl::StrContains(message, "unknown format") ||
      absl::StrContains(message, "unknown image format")) {
    return "unsupported";
  }
  return "corrupt";
}

struct MatchServiceImpl::CallLog {
  std::string verdict;
  std::string rule;
  std::string content_ref;
  std::string principal;
  int64_t items = -1;  // MatchBatch only.
  // MATCH responses for on_match, handed to it before the call finishes.
  std::vector<v1::MatchResponse> matched;
};

MatchServiceImpl::MatchServiceImpl(const MatchServiceOptions& options,
                                   ServerMetrics* metrics,
                                   const TokenTable* tokens)
    : options_(options),
      metrics_(metrics),
      tokens_(tokens),
      limiter_(options.max_concurrent_rpcs),
      video_limiter_(options.max_concurrent_videos),
      principal_limiter_(options.principal_limits),
      pool_(std::make_unique<WorkerPool>(std::max(1, options.worker_threads))) {
  if (options_.on_match) {
    on_match_pool_ =
        std::make_unique<WorkerPool>(std::max(1, options_.on_match_threads));
  }
}

MatchServiceImpl::~MatchServiceImpl() = default;

void MatchServiceImpl::SetMatcher(const Matcher* matcher) {
  matcher_.store(matcher);
}

void MatchServiceImpl::StartDraining() { draining_.store(true); }

void MatchServiceImpl::CancelRunning() { cancel_running_.store(true); }

double MatchServiceImpl::OldestQueuedSeconds() const {
  return pool_->OldestQueuedSeconds();
}

MatchControl MatchServiceImpl::ControlFor(
    const grpc::CallbackServerContext* context) const {
  MatchControl control;
  control.deadline = SteadyDeadline(*context);
  control.cancelled = [this, context] {
    return cancel_running_.load(std::memory_order_relaxed) ||
           context->IsCancelled();
  };
  return control;
}

void MatchServiceImpl::RecordResponse(const v1::MatchResponse& response,
                                      CallLog* log) {
  const std::string verdict = VerdictName(response.verdict());
  const std::string rule = RuleName(response.rule());
  metrics_->CountVerdict(verdict, rule);
  if (options_.on_match && response.verdict() == v1::VERDICT_MATCH) {
    log->matched.push_back(response);
  }
  if (log->verdict.empty()) {
    log->verdict = verdict;
    log->rule = rule;
  } else {
    absl::StrAppend(&log->verdict, ",", verdict);
    absl::StrAppend(&log->rule, ",", rule);
  }
}

struct MatchServiceImpl::Call {
  absl::string_view rpc;
  grpc::CallbackServerContext* context;
  grpc::ServerUnaryReactor* reactor = nullptr;
  // MatchVideo's reactor (then `reactor` is null).
  grpc::ServerReadReactor<v1::MatchVideoRequest>* video_reactor = nullptr;
  std::chrono::steady_clock::time_point start;
  // Request bytes the call holds (images), for the per-principal limit.
  int64_t request_bytes = 0;
  std::string principal_key;
  PrincipalLimiter::Permit principal_permit;
  ConcurrencyLimiter::Permit permit;
  ConcurrencyLimiter::Permit video_permit;
  CallLog log;
};

void MatchServiceImpl::Finish(Call* call, const grpc::Status& status) {
  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - call->start)
                             .count();
  const std::string code = GrpcCodeName(status.error_code());
  metrics_->ObserveRpc(call->rpc, code, seconds);
  // OK calls whose verdicts hold no MATCH are routine: sampled by
  // --log_sample_ok_rpcs. Errors and MATCH lines are always written.
  const bool routine =
      status.ok() &&
      !absl::c_linear_search(absl::StrSplit(call->log.verdict, ','), "MATCH");
  if (options_.log_rpcs && ShouldLogRpc(routine)) {
    CallLog& log = call->log;
    if (log.principal.empty()) {
      log.principal = CertificatePrincipal(*call->context);
    }
    if (log.principal.empty()) log.principal = "anonymous";
    LogLine line(status.ok() ? "info" : "warning", "rpc");
    line.Str("rpc", call->rpc)
        .Str("code", code)
        .Double("latency_ms", seconds * 1e3);
    if (status.ok() && !log.verdict.empty()) line.Str("verdict", log.verdict);
    if (status.ok() && !log.rule.empty()) line.Str("rule", log.rule);
    if (log.items >= 0) line.Int("items", log.items);
    if (!log.content_ref.empty()) {
      line.Str(
          "content_ref",
          absl::string_view(log.content_ref).substr(0, kMaxLoggedContentRef));
    }
    line.Str("principal", log.principal).Str("peer", call->context->peer());
    if (!status.ok()) line.Str("message", status.error_message());
    line.Emit();
  }
  if (call->permit) {
    call->permit.Release();
    metrics_->AddInflight(-1);
  }
  call->video_permit.Release();
  call->principal_permit.Release();
  if (call->reactor != nullptr) {
    call->reactor->Finish(status);
  } else {
    call->video_reactor->Finish(status);
  }
  active_calls_.fetch_sub(1);
}

void MatchServiceImpl::Complete(std::shared_ptr<Call> call,
                                const grpc::Status& status) {
  if (!call->log.matched.empty()) {
    // The answer waits for its reports (which may wait for an fsync), on
    // the on_match pool so this thread goes on at once.
    on_match_pool_->Submit([this, call, status] {
      for (const v1::MatchResponse& r : call->log.matched) {
        options_.on_match(r, call->log.principal);
      }
      call->log.matched.clear();
      Finish(call.get(), status);
    });
    return;
  }
  Finish(call.get(), status);
}

grpc::Status MatchServiceImpl::Admit(Call* call) {
  if (draining_.load()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server draining");
  }
  if (matcher_.load() == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "index loading");
  }
  if (tokens_ != nullptr) {
    absl::StatusOr<std::string> platform =
        tokens_->Authenticate(AuthorizationHeader(*call->context));
    if (!platform.ok()) return ToGrpcStatus(platform.status());
    call->log.principal = *std::move(platform);
  }
  // Who is calling, for the per-caller limits and the workers' turns (the
  // log and reports keep log.principal: the token's platform or "").
  call->principal_key = call->log.principal;
  if (call->principal_key.empty()) {
    call->principal_key = CertificatePrincipal(*call->context);
  }
  if (call->principal_key.empty()) call->principal_key = "anonymous";
  // Per caller first: a greedy platform is refused before it can take the
  // last server-wide slots. Anonymous callers (a server without tokens or
  // client certificates) cannot be told apart: only the server-wide limits
  // hold them.
  if (call->principal_key != "anonymous") {
    absl::StatusOr<PrincipalLimiter::Permit> mine =
        principal_limiter_.TryAcquire(call->principal_key, call->request_bytes);
    if (!mine.ok()) {
      metrics_->CountRejected("principal");
      return ToGrpcStatus(mine.status());
    }
    call->principal_permit = *std::move(mine);
  }
  call->permit = limiter_.TryAcquire();
  if (!call->permit) {
    metrics_->CountRejected("capacity");
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("server at capacity (",
                                     limiter_.in_flight(), " in flight)"));
  }
  metrics_->AddInflight(1);
  return grpc::Status::OK;
}

template <typename Work>
grpc::ServerUnaryReactor* MatchServiceImpl::Handle(
    absl::string_view rpc, grpc::CallbackServerContext* context, bool offload,
    int64_t request_bytes, Work work) {
  // Counted before the draining check (both seq_cst), so a drain that sees
  // 0 active calls after setting draining_ cannot miss a call that passed.
  active_calls_.fetch_add(1);
  auto call = std::make_shared<Call>();
  call->rpc = rpc;
  call->context = context;
  call->reactor = context->DefaultReactor();
  call->start = std::chrono::steady_clock::now();
  call->request_bytes = request_bytes;
  grpc::ServerUnaryReactor* reactor = call->reactor;
  grpc::Status admitted = Admit(call.get());
  if (!admitted.ok()) {
    Finish(call.get(), admitted);
    return reactor;
  }
  auto run = [this, call, work]() {
    grpc::CallbackServerContext* ctx = call->context;
    grpc::Status status = StillWanted(*ctx);
    if (status.ok()) {
      status = work(*matcher_.load(), &call->log);
      // The client no longer waits for an answer computed too late.
      if (status.ok() && ctx->IsCancelled()) {
        status = ctx->deadline() <= std::chrono::system_clock::now()
                     ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                    "deadline exceeded while matching")
                     : grpc::Status(grpc::StatusCode::CANCELLED,
                                    "cancelled while matching");
      }
    }
    Complete(call, status);
  };
  if (offload) {
    // Keyed by caller: platforms take turns on the workers.
    pool_->Submit(call->principal_key, std::move(run));
  } else {
    run();
  }
  return reactor;
}

grpc::ServerUnaryReactor* MatchServiceImpl::MatchImage(
    grpc::CallbackServerContext* context, const v1::MatchImageRequest* request,
    v1::MatchResponse* response) {
  return Handle("MatchImage", context, /*offload=*/true,
                static_cast<int64_t>(request->image().size()),
                [this, context, request, response](
                    const Matcher& matcher, CallLog* log) -> grpc::Status {
                  log->content_ref = request->content_ref();
                  absl::StatusOr<v1::MatchResponse> r =
                      matcher.MatchImage(*request, ControlFor(context));
                  if (!r.ok()) {
                    const std::string reason = DecodeFailureReason(r.status());
                    if (!reason.empty()) metrics_->CountDecodeFailure(reason);
                    return ToGrpcStatus(r.status());
                  }
                  *response = *std::move(r);
                  RecordResponse(*response, log);
                  return grpc::Status::OK;
                });
}

grpc::ServerUnaryReactor* MatchServiceImpl::MatchHashes(
    grpc::CallbackServerContext* context, const v1::MatchHashesRequest* request,
    v1::MatchResponse* response) {
  return Handle("MatchHashes", context, /*offload=*/false, /*request_bytes=*/0,
                [this, request, response](const Matcher& matcher,
                                          CallLog* log) -> grpc::Status {
                  log->content_ref = request->content_ref();
                  absl::StatusOr<v1::MatchResponse> r =
                      matcher.MatchHashes(*request);
                  if (!r.ok()) return ToGrpcStatus(r.status());
                  *response = *std::move(r);
                  RecordResponse(*response, log);
                  return grpc::Status::OK;
                });
}

grpc::ServerUnaryReactor* MatchServiceImpl::MatchBatch(
    grpc::CallbackServerContext* context, const v1::MatchBatchRequest* request,
    v1::MatchBatchResponse* response) {
  int64_t batch_bytes = 0;
  for (const v1::MatchImageRequest& image : request->images()) {
    batch_bytes += static_cast<int64_t>(image.image().size());
  }
  return Handle(
      "MatchBatch", context, /*offload=*/true, batch_bytes,
      [this, context, request, response](const Matcher& matcher,
                                         CallLog* log) -> grpc::Status {
        log->items = request->images_size();
        absl::StatusOr<v1::MatchBatchResponse> r =
            matcher.MatchBatch(*request, ControlFor(context));
        if (!r.ok()) return ToGrpcStatus(r.status());
        *response = *std::move(r);
        for (const v1::MatchBatchItem& item : response->items()) {
          if (item.has_response()) {
            RecordResponse(item.response(), log);
            continue;
          }
          absl::Status item_status(
              static_cast<absl::StatusCode>(item.error().code()),
              item.error().message());
          const std::string reason = DecodeFailureReason(item_status);
          if (!reason.empty()) metrics_->CountDecodeFailure(reason);
          const char* sep = log->verdict.empty() ? "" : ",";
          absl::StrAppend(&log->verdict, sep, "ERROR");
          absl::StrAppend(
              &log->rule, sep,
              GrpcCodeName(static_cast<grpc::StatusCode>(item.error().code())));
        }
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* MatchServiceImpl::GetIndexInfo(
    grpc::CallbackServerContext* context, const v1::GetIndexInfoRequest*,
    v1::IndexInfo* response) {
  return Handle("GetIndexInfo", context, /*offload=*/false,
                /*request_bytes=*/0,
                [response](const Matcher& matcher, CallLog*) -> grpc::Status {
                  *response = matcher.GetIndexInfo();
                  return grpc::Status::OK;
                });
}

v1::MatchResponse ReportableVideoMatch(const v1::MatchVideoResponse& video,
                                       int max_hashes) {
  v1::MatchResponse r;
  r.set_content_ref(video.content_ref());
  r.set_verdict(video.verdict());
  r.set_rule(video.rule());
  r.set_rule_detail(video.rule_detail());
  r.set_index_sequence(video.index_sequence());
  r.set_matches_truncated(video.matches_truncated());
  for (const v1::VideoEntryMatch& m : video.matches()) {
    v1::EntryMatch* e = r.add_matches();
    e->set_entry_id(m.entry_id());
    e->set_signal_type(m.signal_type());
    e->set_distance(m.distance());
    e->set_classification(m.classification());
    e->set_source_agency(m.source_agency());
    e->set_state(m.state());
  }
  // Query frames that matched first (by their time), then the others; only
  // the first max_hashes are needed.
  absl::flat_hash_set<double> matched_times;
  for (const v1::VideoEntryMatch& m : video.matches()) {
    for (const v1::MatchedFrame& f : m.frames()) {
      matched_times.insert(f.query_timestamp_seconds());
    }
  }
  std::vector<const v1::VideoFrame*> frames;
  for (bool matched : {true, false}) {
    for (const v1::VideoFrame& f : video.query_frame_hashes()) {
      if (frames.size() >= static_cast<size_t>(max_hashes)) break;
      if (matched_times.contains(f.timestamp_seconds()) == matched) {
        frames.push_back(&f);
      }
    }
  }
  for (const v1::VideoFrame* f : frames) {
    v1::ComputedHash* h = r.add_query_hashes();
    h->set_signal_type(v1::SIGNAL_TYPE_PDQ);
    h->set_hex(absl::BytesToHexString(f->pdq()));
    h->set_quality(f->quality());
  }
  return r;
}

// MatchVideo: reads the header and the chunks, then matches on the pool.
//
// Upload time limits: from Start until the upload ends, the call has one
// entry in the service's video_watchdog_ whose deadline is the earlier of
// (last message + idle timeout) and (start + upload timeout). state_ says
// who may finish the call:
//   kArming     ArmAndRead is starting the next read. An Expire now only
//               sets expired_while_arming_; ArmAndRead then finishes the
//               call once its StartRead returned (never a read after
//               Finish), unless the read completed first.
//   kReading    a read is outstanding: Expire (watchdog thread) finishes.
//   kProcessing OnReadDone handles a message; only it may finish.
//   kDone       the upload is over (finished, or handed to Run).
// A read that completes after Expire finished the call finds kDone and
// does nothing. ArmAndRead runs only where OnDone cannot (inside the
// handler before gRPC binds the reactor, or inside OnReadDone), so `this`
// outlives it.
class MatchServiceImpl::VideoReactor
    : public grpc::ServerReadReactor<v1::MatchVideoRequest> {
 public:
  VideoReactor(MatchServiceImpl* service, std::shared_ptr<Call> call,
               v1::MatchVideoResponse* response)
      : service_(service), call_(std::move(call)), response_(response) {}

  // Called inside the MatchVideo handler.
  void Start() {
    upload_deadline_ =
        call_->start +
        std::chrono::milliseconds(service_->options_.video_upload_timeout_ms);
    ArmAndRead();
  }

  void OnReadDone(bool ok) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // kDone: Expire finished the call. kArming: the read beat ArmAndRead's
      // return, and any expiry since (the message came in time).
      if (state_ == State::kDone) return;
      state_ = State::kProcessing;
    }
    if (!ok) {
      EndUpload();
      // The client half-closed (or the call ended): match what arrived.
      if (!have_header_) {
        return Fail(grpc::StatusCode::INVALID_ARGUMENT,
                    "MatchVideo needs a header message first");
      }
      return Run();
    }
    const Matcher& matcher = *service_->matcher_.load();
    const size_t max_bytes = matcher.options().video.hash.decode.max_bytes;
    if (!have_header_) {
      if (request_.part_case() != v1::MatchVideoRequest::kHeader) {
        return Fail(grpc::StatusCode::INVALID_ARGUMENT,
                    "the first MatchVideo message must be a header");
      }
      header_ = std::move(*request_.mutable_header());
      have_header_ = true;
      call_->log.content_ref = header_.content_ref();
      if (header_.total_bytes() < 0) {
        return Fail(grpc::StatusCode::INVALID_ARGUMENT,
                    "header.total_bytes is negative");
      }
      if (static_cast<uint64_t>(header_.total_bytes()) > max_bytes) {
        return Fail(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            absl::StrCat("video is ", header_.total_bytes(),
                         " bytes, over the limit of ", max_bytes, " bytes"));
      }
      // The announced size (within the limit) is allocated once: growing
      // by doubling held up to twice the upload, and a third copy while it
      // reallocated (docs/performance.md, "MatchVideo under load").
      bytes_.reserve(static_cast<size_t>(header_.total_bytes()));
    } else {
      if (request_.part_case() != v1::MatchVideoRequest::kChunk) {
        return Fail(grpc::StatusCode::INVALID_ARGUMENT,
                    "only the first MatchVideo message may be a header");
      }
      if (header_.frames_size() > 0) {
        return Fail(grpc::StatusCode::INVALID_ARGUMENT,
                    "a MatchVideo header with frames takes no video chunks");
      }
      if (bytes_.size() + request_.chunk().size() > max_bytes) {
        return Fail(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            absl::StrCat("video is over the limit of ", max_bytes, " bytes"));
      }
      bytes_.append(request_.chunk());
    }
    request_.Clear();
    ArmAndRead();
  }

  void OnDone() override {
    MatchServiceImpl* service = service_;
    // Returns at once when OnDone runs inside Expire's Finish.
    service->video_watchdog_.Remove(Timer());
    delete this;  // The upload, and with the call its video permit.
    // Tens of MiB per video go back to the system once no video is in
    // flight instead of staying in malloc's arenas (docs/performance.md,
    // "MatchVideo under load": idle RSS crept 102 -> 234 MiB).
    if (service->video_limiter_.in_flight() == 0) malloc_trim(0);
  }

 private:
  enum class State { kArming, kReading, kProcessing, kDone };
  using Clock = DeadlineWatchdog::Clock;

  Clock::time_point NextDeadlineLocked() const {
    return std::min(
        Clock::now() +
            std::chrono::milliseconds(service_->options_.video_idle_timeout_ms),
        upload_deadline_);
  }

  // Sets the next deadline and starts the next read (see the class
  // comment).
  void ArmAndRead() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_ = State::kArming;
      expired_while_arming_ = false;
      deadline_ = NextDeadlineLocked();
      // An entry that expired while the last message was processed is gone
      // (its Expire found kProcessing): add another.
      if (timer_ == 0 || !service_->video_watchdog_.Reset(timer_, deadline_)) {
        timer_ = service_->video_watchdog_.Add(deadline_, [this] { Expire(); });
      }
    }
    StartRead(&request_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state_ != State::kArming) return;  // The read completed already.
      if (!expired_while_arming_) {
        state_ = State::kReading;
        return;
      }
      state_ = State::kDone;
    }
    FinishExpired();
  }

  // The upload is over (half-close, error or expiry): the reactions own the
  // call from now on and the watchdog entry goes.
  void EndUpload() {
    DeadlineWatchdog::Id timer;
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_ = State::kDone;
      timer = timer_;
    }
    service_->video_watchdog_.Remove(timer);
  }

  DeadlineWatchdog::Id Timer() {
    std::lock_guard<std::mutex> lock(mu_);
    return timer_;
  }

  void Fail(grpc::StatusCode code, const std::string& message) {
    EndUpload();
    bytes_.clear();
    bytes_.shrink_to_fit();
    service_->Finish(call_.get(), grpc::Status(code, message));
  }

  // On the watchdog thread, when deadline_ may have passed: ends a call
  // still waiting for its next message. The read outstanding then
  // completes (not ok) and finds kDone.
  void Expire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // A later deadline_: this entry expired just as a message came in,
      // and ArmAndRead set the next one.
      if (Clock::now() < deadline_) return;
      if (state_ == State::kArming) {
        expired_while_arming_ = true;
        return;
      }
      // kProcessing: a message arrived; its ArmAndRead sets a new deadline.
      if (state_ != State::kReading) return;
      state_ = State::kDone;
    }
    FinishExpired();
  }

  // Logs, counts and finishes a call whose upload ran out of time. Finish
  // may run OnDone (deleting this) before it returns.
  // REQUIRES: this thread set state_ to kDone from kReading or kArming.
  void FinishExpired() {
    const MatchServiceOptions& options = service_->options_;
    Clock::time_point deadline;
    {
      std::lock_guard<std::mutex> lock(mu_);
      deadline = deadline_;
    }
    const bool upload = deadline >= upload_deadline_;
    const absl::string_view limit = upload ? "upload" : "idle";
    const std::string message =
        upload ? absl::StrCat("MatchVideo upload not complete after ",
                              options.video_upload_timeout_ms / 1000.0,
                              " s (limit --video_upload_timeout_seconds)")
               : absl::StrCat("no MatchVideo message for ",
                              options.video_idle_timeout_ms / 1000.0,
                              " s (limit --video_idle_timeout_seconds)");
    service_->metrics_->CountStreamTimeout("MatchVideo", limit);
    LogLine("warning", "video_upload_timeout")
        .Str("limit", limit)
        .Double(
            "seconds",
            std::chrono::duration<double>(Clock::now() - call_->start).count())
        .Bool("header", have_header_)
        .Int("bytes_received", static_cast<int64_t>(bytes_.size()))
        .Str("principal", call_->log.principal)
        .Str("peer", call_->context->peer())
        .Emit();
    bytes_.clear();
    bytes_.shrink_to_fit();
    MatchServiceImpl* service = service_;
    std::shared_ptr<Call> call = call_;
    service->Finish(call.get(),
                    grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, message));
  }

  void Run() {
    service_->pool_->Submit([this] {
      grpc::Status status = StillWanted(*call_->context);
      if (status.ok()) {
        const VideoMatcher& matcher = service_->matcher_.load()->video();
        absl::StatusOr<v1::MatchVideoResponse> r =
            header_.frames_size() > 0 ? matcher.MatchFrames(header_)
                                      : matcher.MatchBytes(header_, bytes_);
        // The upload is dropped as soon as it is hashed.
        bytes_.clear();
        bytes_.shrink_to_fit();
        if (!r.ok()) {
          status = ToGrpcStatus(r.status());
        } else {
          *response_ = *std::move(r);
          const std::string verdict = VerdictName(response_->verdict());
          const std::string rule = RuleName(response_->rule());
          service_->metrics_->CountVerdict(verdict, rule);
          call_->log.verdict = verdict;
          call_->log.rule = rule;
          call_->log.items = response_->query_frames();
          if (service_->options_.on_match &&
              response_->verdict() == v1::VERDICT_MATCH) {
            call_->log.matched.push_back(
                ReportableVideoMatch(*response_, kReportedVideoHashes));
          }
        }
      }
      service_->Complete(call_, status);
    });
  }

  // Query frame hashes a report carries (ReportService's default limit is
  // 64 per report).
  static constexpr int kReportedVideoHashes = 16;

  MatchServiceImpl* const service_;
  const std::shared_ptr<Call> call_;
  v1::MatchVideoResponse* const response_;
  Clock::time_point upload_deadline_;  // Set by Start.
  std::mutex mu_;
  State state_ = State::kArming;       // GUARDED_BY(mu_)
  bool expired_while_arming_ = false;  // GUARDED_BY(mu_)
  Clock::time_point deadline_;         // GUARDED_BY(mu_)
  DeadlineWatchdog::Id timer_ = 0;     // GUARDED_BY(mu_)
  v1::MatchVideoRequest request_;
  v1::MatchVideoHeader header_;
  bool have_header_ = false;
  std::string bytes_;
};

grpc::ServerReadReactor<v1::MatchVideoRequest>* MatchServiceImpl::MatchVideo(
    grpc::CallbackServerContext* context, v1::MatchVideoResponse* response) {
  active_calls_.fetch_add(1);
  auto call = std::make_shared<Call>();
  call->rpc = "MatchVideo";
  call->context = context;
  call->start = std::chrono::steady_clock::now();
  auto* reactor = new VideoReactor(this, call, response);
  call->video_reactor = reactor;
  grpc::Status admitted = Admit(call.get());
  if (admitted.ok()) {
    call->video_permit = video_limiter_.TryAcquire();
    if (!call->video_permit) {
      metrics_->CountRejected("video_capacity");
      admitted = grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("server at video capacity (", video_limiter_.in_flight(),
                       " videos in flight)"));
    }
  }
  if (!admitted.ok()) {
    Finish(call.get(), admitted);
    return reactor;
  }
  reactor->Start();
  return reactor;
}

}  // namespace server
}  // namespace hashmatch
