// IngestCore: the logic of hashmatch.v1.IngestService (ingest.proto) over a
// HashStore and an AuditSink, without gRPC. IngestServiceImpl
// (ingest_service.h) is its gRPC adapter; tests call it directly.
//
//   IngestOptions options;                  // quorum 1, limits, ...
//   IngestCore core(options, store.get(), audit_sink.get());
//   // `agency` is the authorized caller (see authz.h).
//   ASSIGN_OR_RETURN(v1::SubmitResponse r, core.Submit(agency, request));
//   ASSIGN_OR_RETURN(v1::ConfirmResponse c,
//                    core.Confirm(other_agency, confirm_request));
//
// The caller's role was checked by Authorize (authz.h) before a call; the
// rules that depend on the entry are checked here: an agency retracts only
// its own entries and confirms only other agencies' (PERMISSION_DENIED);
// ResolveDispute needs the owning agency or an admin. The caller's agency is
// its principal name.
//
// Vetting and quorum. An entry is created PENDING, or ACTIVE when the
// distinct agencies endorsing it reach IngestOptions::quorum (K) at once.
// Entry.endorsements lists them: the submitter first, then each agency that
// confirmed it (Confirm), or that submitted the same (signal type, hash)
// itself. Independent submission rule: when agency A submits a (signal,
// hash) for which live (not retracted) entries of other agencies exist, A's
// new entry is endorsed by each of those entries' agencies, and each of
// those entries is endorsed by A, in the same atomic write; a PENDING entry
// whose endorsements reach K becomes ACTIVE. (Only the owners of the other
// entries count for the new one, not agencies that merely confirmed them.)
// A DISPUTED entry keeps its state when endorsed; ResolveDispute decides.
// Retracting an entry leaves the endorsements it gave to others in place.
//
// Submission. One Submit is one atomic HashStore::Put: every submission is
// validated and hashed first; any error stores nothing. (agency,
// external_id) is the idempotency key: resubmitting the same hash updates
// classification, note and quality of the live entry (nothing is written
// when they are unchanged); resubmitting a different hash or signal type
// under a live key is ALREADY_EXISTS (retract it first). After a
// retraction, the key names a new entry. An image submission (principal
// with may_submit_media) is decoded and hashed in memory into three
// entries, PDQ, MD5 and SHA-256, with external ids "<id>:pdq", "<id>:md5",
// "<id>:sha256"; the bytes are never stored or logged.
//
// Disputes. A platform's Dispute appends a Dispute to the entry; with
// `suspend`, and IngestOptions::allow_platform_suspend, a PENDING or ACTIVE
// entry becomes DISPUTED (no longer matched). ResolveDispute closes every
// open dispute: rejected puts a DISPUTED entry back to ACTIVE (or PENDING
// below quorum); upheld records the resolution on the disputes, then
// retracts the entry with the resolution as reason (two store writes: if
// the server dies between them, the entry is left with upheld, closed
// disputes and not retracted; ResolveDispute UPHELD on it again completes
// the retraction). Retracted entries cannot be confirmed, disputed or
// resolved (FAILED_PRECONDITION).
//
// Audit. After each store commit, one AuditEvent per changed entry (per
// store change) is appended: actor (principal name), action ("submit",
// "endorse", "retract", "confirm", "dispute", "resolve_dispute"), target
// "entry:<id>", the serialized entry before (empty when created) and after,
// the store sequence of the change, and a detail (reason, resolution, ...).
// If the append fails, the change stays committed, the call returns the
// sink's error (message naming the committed sequence), and every later
// mutation is refused with UNAVAILABLE until a restart, whose recovery
// (audit_sink.h) audits the changes the sink missed.
//
// Paging. ListEntries returns entries in id order; next_page_token is
// opaque: the last id, a fingerprint of the filter, and an HMAC-SHA256 tag
// under IngestOptions::page_token_key. A garbled or forged token, or one
// issued for another filter, is INVALID_ARGUMENT. One page reads at most
// max_scanned_per_page entries, so a page may be short (even empty) with a
// next_page_token while the filter matches few entries.
//
// Thread safety: all methods may be called concurrently. Mutations (Submit,
// Retract, Confirm, Dispute, ResolveDispute) are serialized by one mutex
// held from reading the entries to writing them and their audit events, so
// a read-modify-write (e.g. two concurrent Confirms) never loses an update
// and audit events are in store order. Image hashing runs before the mutex.
// REQUIRES: this IngestCore is the store's only writer. Reads (GetEntry,
// ListEntries, ExportEntries) take no lock. `store` and `audit` are not
// owned and must outlive the IngestCore.
#ifndef HASHMATCH_SRC_INGEST_INGEST_CORE_H_
#define HASHMATCH_SRC_INGEST_INGEST_CORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/store/hash_store.h"
#include "proto/hashmatch/v1/ingest.pb.h"
#include "src/hashing/image_decoder.h"
#include "src/ingest/audit_sink.h"
#include "src/ingest/page_token.h"
#include "src/video/video_hasher.h"

namespace hashmatch {
namespace ingest {

struct IngestOptions {
  // K: distinct endorsing agencies that make an entry ACTIVE. Default 1 (the
  // submitter alone). Must be >= 1.
  int quorum = 1;
  // Most submissions in one SubmitRequest (an image counts once, its three
  // entries count towards the store's own batch limit). More is
  // RESOURCE_EXHAUSTED. Default 1000.
  size_t max_batch = 1000;
  // Longest external_id, in bytes (INVALID_ARGUMENT). Default 256.
  size_t max_external_id_bytes = 256;
  // Longest note, reason or resolution, in bytes (INVALID_ARGUMENT).
  // Default 4096.
  size_t max_note_bytes = 4096;
  // Longest classification and dispute content_ref, in bytes
  // (INVALID_ARGUMENT). Default 256.
  size_t max_label_bytes = 256;
  // Most disputes kept on one entry; one more is RESOURCE_EXHAUSTED.
  // Default 100.
  size_t max_disputes_per_entry = 100;
  // ListEntries page size when the request says 0. Default 100.
  int default_page_size = 100;
  // Largest page size accepted; more is INVALID_ARGUMENT. Default 1000.
  int max_page_size = 1000;
  // Most entries one ListEntries call reads before returning a (possibly
  // short) page with a token to continue. Default 100000.
  size_t max_scanned_per_page = 100000;
  // Whether a platform's Dispute with `suspend` makes the entry DISPUTED.
  // Default false: a dispute only flags the entry for review, so no
  // platform alone can stop a vetted hash from matching.
  bool allow_platform_suspend = false;
  // Limits for submitted images (encoded bytes, declared pixels); over them
  // is RESOURCE_EXHAUSTED. Default: the decoder's (32 MiB, 64 MP).
  DecodeOptions image_decode;
  // Most frames of one video entry (video_hashes, or kept from a video);
  // more is RESOURCE_EXHAUSTED. At most kMaxVideoFramesPerEntry. Default
  // 16384.
  int max_video_frames = kMaxVideoFramesPerEntry;
  // Decoding limits and sampling for submitted videos (video_hasher.h).
  // Default: EntryVideoHashOptions(), video_hasher.h's limits with one frame
  // every 0.5 s (an entry sampled twice as densely as the 1 s queries has a
  // frame near every query frame even on fast pans, docs/video.md) and the
  // centre windows (so crops of up to ~10% match).
  VideoHashOptions video_hash = EntryVideoHashOptions();
  // Key of the page-token HMAC. Default (empty): 32 random bytes drawn at
  // construction, so tokens do not survive a restart.
  std::string page_token_key;
  // Clock for endorsement and dispute times, microseconds since the epoch.
  // Default (empty): the system clock. (The store stamps entry times with
  // its own StoreOptions::now_micros.)
  std::function<int64_t()> now_micros;
};

// An export in progress (IngestCore::StartExport): the entries matching a
// filter, from one store snapshot held until destroyed. Not thread-safe.
class EntryExport {
 public:
  EntryExport(const v1::EntryFilter& filter,
              std::unique_ptr<HashStore::EntryCursor> cursor)
      : filter_(filter), cursor_(std::move(cursor)) {}
  // The next matching entry in id order; nullopt at the end.
  absl::StatusOr<std::optional<v1::Entry>> Next();
  // The store sequence of the snapshot.
  uint64_t sequence() const { return cursor_->sequence(); }

 private:
  const v1::EntryFilter filter_;
  std::unique_ptr<HashStore::EntryCursor> cursor_;
};

class IngestCore {
 public:
  // Called by ExportEntries for each entry; a non-OK return stops the
  // export and is returned.
  using EntryCallback = std::function<absl::Status(const v1::Entry& entry)>;

  // INVALID_ARGUMENT for options out of range.
  static absl::Status ValidateOptions(const IngestOptions& options);

  // REQUIRES: ValidateOptions(options).ok(); store and audit non-null.
  IngestCore(const IngestOptions& options, HashStore* store, AuditSink* audit);
  IngestCore(const IngestCore&) = delete;
  IngestCore& operator=(const IngestCore&) = delete;

  // `caller` is an agency (its name is the agency).
  absl::StatusOr<v1::SubmitResponse> Submit(const v1::Principal& caller,
                                            const v1::SubmitRequest& request);
  absl::StatusOr<v1::RetractResponse> Retract(
      const v1::Principal& caller, const v1::RetractRequest& request);
  absl::StatusOr<v1::ConfirmResponse> Confirm(
      const v1::Principal& caller, const v1::ConfirmRequest& request);
  // `caller` is a platform.
  absl::StatusOr<v1::DisputeResponse> Dispute(
      const v1::Principal& caller, const v1::DisputeRequest& request);
  // `caller` is the owning agency or has ROLE_ADMIN.
  absl::StatusOr<v1::ResolveDisputeResponse> ResolveDispute(
      const v1::Principal& caller, const v1::ResolveDisputeRequest& request);

  absl::StatusOr<v1::Entry> GetEntry(const v1::GetEntryRequest& request) const;
  absl::StatusOr<v1::ListEntriesResponse> ListEntries(
      const v1::ListEntriesRequest& request) const;
  // Every entry matching the filter, in id order, from one consistent
  // snapshot of the store, read at the caller's pace. INVALID_ARGUMENT for
  // a bad filter. REQUIRES: the export does not outlive the store.
  absl::StatusOr<std::unique_ptr<EntryExport>> StartExport(
      const v1::ExportEntriesRequest& request) const;
  // The same through a callback (a non-OK return stops and is returned).
  absl::Status ExportEntries(const v1::ExportEntriesRequest& request,
                             const EntryCallback& callback) const;

  const IngestOptions& options() const { return options_; }

 private:
  int64_t Now() const;
  // UNAVAILABLE once an audit append has failed. REQUIRES: mu_ held.
  absl::Status CheckAuditHealthy() const;
  // Appends `events` (REQUIRES: mu_ held); latches audit_error_ on failure.
  absl::Status AppendAudit(const std::vector<AuditEvent>& events);
  // The entry; FAILED_PRECONDITION naming `action` if it is retracted.
  absl::StatusOr<v1::Entry> LoadLive(uint64_t id, absl::string_view action);
  // Writes `after` (one Put) and audits it with `before`; returns the stored
  // entry and its sequence. REQUIRES: mu_ held.
  absl::StatusOr<std::pair<v1::Entry, uint64_t>> PutOne(
      const v1::Principal& caller, absl::string_view action,
      const v1::Entry& before, const v1::Entry& after,
      absl::string_view detail);

  const IngestOptions options_;
  HashStore* const store_;
  AuditSink* const audit_;
  const PageTokenCodec page_tokens_;

  std::mutex mu_;
  absl::Status audit_error_ ABSL_GUARDED_BY(mu_);
};

// The number of distinct agencies in entry.endorsements().
int DistinctEndorsers(const v1::Entry& entry);

}  // namespace ingest
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_INGEST_INGEST_CORE_H_
