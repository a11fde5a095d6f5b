// IngestServiceImpl: hashmatch.v1.IngestService (ingest.proto) on gRPC's
// callback API, in front of an IngestCore (ingest_core.h, which holds every
// rule; this file only adapts calls).
//
//   IngestCore core(ingest_options, store.get(), audit_log.get());
//   IngestServiceImpl ingest(&core, authenticator, IngestServiceOptions());
//   builder.RegisterService(&ingest);
//   // or owning its core:
//   auto service = std::make_unique<IngestServiceImpl>(
//       std::make_unique<IngestCore>(options, store, audit), authenticator,
//       IngestServiceOptions());
//
// Every RPC first runs Authorize (authz.h) with the injected Authenticator:
// UNAUTHENTICATED / PERMISSION_DENIED by the role table. The IngestCore's
// absl codes then map 1:1 to gRPC codes (src/common/status_util.h).
//
// Unary RPCs: after Authorize (on the gRPC thread), the IngestCore call runs
// on the service's WorkerPool (store writes wait for fsync, images are
// decoded, list pages scan), so gRPC's callback threads never block. A call
// cancelled or past its deadline before its turn is not executed.
// RESOURCE_EXHAUSTED when max_queued_calls calls are already waiting or
// running.
//
// SubmitStream: one request at a time; each is committed by
// IngestCore::Submit (one atomic store write) before its response is
// written, and the next request is read only after that write completed.
// The first failing request ends the stream with its error; nothing of it
// is stored, and every earlier request was acknowledged and is stored. The
// client half-closing ends the stream OK. At most max_submit_streams open.
// A stream whose next request has not arrived stream_idle_timeout_ms after
// it opened or after its last response was written ends with
// DEADLINE_EXCEEDED naming the limit (on_stream_timeout is told), so idle
// streams cannot hold the max_submit_streams slots; every earlier request
// was acknowledged and stored, as with any other end.
//
// ExportEntries: the entries matching the filter, in id order, from one
// store snapshot (IngestCore::StartExport). Flow control: one write in
// flight; entries are read from the store on the pool in chunks of at most
// export_chunk entries, only when the previous chunk has been written, so a
// slow reader holds at most one chunk (plus the RocksDB snapshot). At most
// max_exports open; more are RESOURCE_EXHAUSTED.
//
// Thread safety: all methods may be called concurrently. `authenticator`
// (and `core`, unless passed as a unique_ptr) is not owned and must outlive
// the service. REQUIRES for
// the destructor: the grpc::Server is shut down (every call done).
#ifndef HASHMATCH_SRC_INGEST_INGEST_SERVICE_H_
#define HASHMATCH_SRC_INGEST_INGEST_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>

#include "absl/strings/string_view.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/common/deadline_watchdog.h"
#include "src/common/worker_pool.h"
#include "src/ingest/authz.h"
#include "src/ingest/ingest_core.h"

namespace hashmatch {
namespace ingest {

struct IngestServiceOptions {
  // Threads running IngestCore calls. Default 2.
  int worker_threads = 2;
  // Unary calls waiting for or running on the pool; more are
  // RESOURCE_EXHAUSTED at once. Default 256.
  int max_queued_calls = 256;
  // SubmitStream streams open at once; more are RESOURCE_EXHAUSTED.
  // Default 64.
  int max_submit_streams = 64;
  // ExportEntries streams open at once (each holds a store snapshot); more
  // are RESOURCE_EXHAUSTED. Default 8.
  int max_exports = 8;
  // Entries an export reads from the store per step. Default 256.
  size_t export_chunk = 256;
  // How long a SubmitStream may wait for its next request (see above).
  // Default 30 s (ingest_server --stream_idle_timeout_seconds).
  int stream_idle_timeout_ms = 30000;
  // Called (on the watchdog thread; keep it short) when a stream is ended by
  // a time limit, with the RPC ("SubmitStream") and the limit ("idle"), e.g.
  // to count and log it. Default: none.
  std::function<void(absl::string_view rpc, absl::string_view limit)>
      on_stream_timeout;
};

class IngestServiceImpl final
    : public hashmatch::v1::IngestService::CallbackService {
 public:
  IngestServiceImpl(IngestCore* core, const Authenticator& authenticator,
                    const IngestServiceOptions& options);
  // The same, owning `core`.
  IngestServiceImpl(std::unique_ptr<IngestCore> core,
                    const Authenticator& authenticator,
                    const IngestServiceOptions& options);
  // Runs the tasks still queued, then joins the worker threads.
  ~IngestServiceImpl() override;
  IngestServiceImpl(const IngestServiceImpl&) = delete;
  IngestServiceImpl& operator=(const IngestServiceImpl&) = delete;

  grpc::ServerUnaryReactor* Submit(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::SubmitRequest* request,
      hashmatch::v1::SubmitResponse* response) override;
  grpc::ServerBidiReactor<hashmatch::v1::SubmitRequest,
                          hashmatch::v1::SubmitResponse>*
  SubmitStream(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Retract(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::RetractRequest* request,
      hashmatch::v1::RetractResponse* response) override;
  grpc::ServerUnaryReactor* Confirm(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::ConfirmRequest* request,
      hashmatch::v1::ConfirmResponse* response) override;
  grpc::ServerUnaryReactor* Dispute(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::DisputeRequest* request,
      hashmatch::v1::DisputeResponse* response) override;
  grpc::ServerUnaryReactor* ResolveDispute(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::ResolveDisputeRequest* request,
      hashmatch::v1::ResolveDisputeResponse* response) override;
  grpc::ServerUnaryReactor* GetEntry(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::GetEntryRequest* request,
      hashmatch::v1::Entry* response) override;
  grpc::ServerUnaryReactor* ListEntries(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::ListEntriesRequest* request,
      hashmatch::v1::ListEntriesResponse* response) override;
  grpc::ServerWriteReactor<hashmatch::v1::Entry>* ExportEntries(
      grpc::CallbackServerContext* context,
      const hashmatch::v1::ExportEntriesRequest* request) override;

  // Streams open now.
  int submit_streams() const { return submit_streams_.load(); }
  int exports() const { return exports_.load(); }

 private:
  class SubmitStreamReactor;
  class ExportReactor;

  // Authorize, admission, then `work(principal)` on the pool; finishes the
  // call with its status.
  template <typename Work>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context,
                                  IngestRpc rpc, Work work);

  std::unique_ptr<IngestCore> owned_core_;  // May be null.
  IngestCore* const core_;
  const Authenticator& authenticator_;
  const IngestServiceOptions options_;
  std::atomic<int> queued_calls_{0};
  std::atomic<int> submit_streams_{0};
  std::atomic<int> exports_{0};
  // Ends idle SubmitStreams (stream_idle_timeout_ms).
  DeadlineWatchdog watchdog_;
  // Last member: destroyed (joined) first, while the rest is still valid.
  std::unique_ptr<WorkerPool> pool_;
};

}  // namespace ingest
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_INGEST_INGEST_SERVICE_H_
