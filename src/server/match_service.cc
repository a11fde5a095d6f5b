#include "src/server/match_service.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
  grpc::ServerUnaryReactor* reactor;
  std::chrono::steady_clock::time_point start;
  ConcurrencyLimiter::Permit permit;
  CallLog log;
};

void MatchServiceImpl::Finish(Call* call, const grpc::Status& status) {
  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - call->start)
                             .count();
  const std::string code = GrpcCodeName(status.error_code());
  metrics_->ObserveRpc(call->rpc, code, seconds);
  if (options_.log_rpcs) {
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
  call->reactor->Finish(status);
  active_calls_.fetch_sub(1);
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
    Work work) {
  // Counted before the draining check (both seq_cst), so a drain that sees
  // 0 active calls after setting draining_ cannot miss a call that passed.
  active_calls_.fetch_add(1);
  auto call = std::make_shared<Call>();
  call->rpc = rpc;
  call->context = context;
  call->reactor = context->DefaultReactor();
  call->start = std::chrono::steady_clock::now();
  grpc::ServerUnaryReactor* reactor = call->reactor;
  grpc::Status admitted = Admit(call.get());
  if (!admitted.ok()) {
    Finish(call.get(), admitted);
    return reactor;
  }
  auto run = [this, call, work]() {
    grpc::CallbackServerContext* ctx = call->context;
    grpc::Status status;
    if (ctx->deadline() <= std::chrono::system_clock::now()) {
      status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                            "deadline exceeded before matching");
    } else if (ctx->IsCancelled()) {
      status = grpc::Status(grpc::StatusCode::CANCELLED,
                            "cancelled before matching");
    } else {
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
    if (!call->log.matched.empty()) {
      // The answer waits for its reports (which may wait for an fsync),
      // on the on_match pool so this thread goes on at once.
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
  };
  if (offload) {
    pool_->Submit(std::move(run));
  } else {
    run();
  }
  return reactor;
}

grpc::ServerUnaryReactor* MatchServiceImpl::MatchImage(
    grpc::CallbackServerContext* context, const v1::MatchImageRequest* request,
    v1::MatchResponse* response) {
  return Handle("MatchImage", context, /*offload=*/true,
                [this, request, response](const Matcher& matcher,
                                          CallLog* log) -> grpc::Status {
                  log->content_ref = request->content_ref();
                  absl::StatusOr<v1::MatchResponse> r =
                      matcher.MatchImage(*request);
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
  return Handle("MatchHashes", context, /*offload=*/false,
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
  return Handle(
      "MatchBatch", context, /*offload=*/true,
      [this, request, response](const Matcher& matcher,
                                CallLog* log) -> grpc::Status {
        log->items = request->images_size();
        absl::StatusOr<v1::MatchBatchResponse> r = matcher.MatchBatch(*request);
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
                [response](const Matcher& matcher, CallLog*) -> grpc::Status {
                  *response = matcher.GetIndexInfo();
                  return grpc::Status::OK;
                });
}

}  // namespace server
}  // namespace hashmatch
