#include "src/ingest/ingest_core.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "src/hashing/bit_hash.h"
#include "src/hashing/crypto_hash.h"
#include "src/hashing/image_hasher.h"
#include "src/hashlist/hash_list_format.h"
#include "src/ingest/authz.h"
#include "src/match/video_matcher.h"
#include "src/video/video_hasher.h"

namespace hashmatch {
namespace ingest {
namespace {

std::string Serialize(const v1::Entry& e) {
  std::string out;
  e.SerializeToString(&out);
  return out;
}

std::string Target(uint64_t id) { return absl::StrCat("entry:", id); }

bool IsLive(const v1::Entry& e) {
  return e.state() != v1::VETTING_STATE_RETRACTED;
}

bool EndorsedBy(const v1::Entry& e, absl::string_view agency) {
  for (const v1::Endorsement& en : e.endorsements()) {
    if (en.agency() == agency) return true;
  }
  return false;
}

absl::Status CheckLength(absl::string_view what, absl::string_view value,
                         size_t max) {
  if (value.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is ", value.size(), " bytes, over the limit of ", max));
  }
  return absl::OkStatus();
}

absl::Status Required(absl::string_view what, absl::string_view value,
                      size_t max) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is required"));
  }
  return CheckLength(what, value, max);
}

absl::Status Prefixed(const absl::Status& s, absl::string_view prefix) {
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

absl::Status CheckEntryId(uint64_t id) {
  if (id == 0) return absl::InvalidArgumentError("entry_id is required");
  return absl::OkStatus();
}

// The one item a submission (or each of an image's hashes) becomes.
struct Item {
  size_t submission = 0;
  std::string external_id;
  v1::SignalType signal = v1::SIGNAL_TYPE_UNSPECIFIED;
  std::string hash;
  std::optional<int32_t> quality;
  std::string classification;
  std::string note;
  // VPDQ: the frames (`hash` is their VideoFramesDigest).
  google::protobuf::RepeatedPtrField<v1::VideoFrame> frames;
};

// A VPDQ item from frames: each 32-byte PDQ with quality 0..100, 1..max.
absl::StatusOr<Item> VideoItem(
    const google::protobuf::RepeatedPtrField<v1::VideoFrame>& frames,
    int max_frames) {
  if (frames.empty()) {
    return absl::InvalidArgumentError("a video entry needs at least 1 frame");
  }
  if (frames.size() > max_frames) {
    return absl::ResourceExhaustedError(
        absl::StrCat("video has ", frames.size(), " frames, over the limit of ",
                     max_frames));
  }
  for (int i = 0; i < frames.size(); ++i) {
    absl::Status frame = ValidateVideoFrame(frames[i]);
    if (!frame.ok()) {
      return Prefixed(frame, absl::StrCat("video frame ", i, ": "));
    }
  }
  Item item;
  item.signal = v1::SIGNAL_TYPE_VPDQ;
  item.frames = frames;
  item.hash = VideoFramesDigest(frames);
  return item;
}

absl::StatusOr<Item> HashItem(const v1::Submission& s) {
  const v1::SubmittedHash& h = s.hash();
  Item item;
  item.signal = h.signal_type();
  if (h.signal_type() == v1::SIGNAL_TYPE_VPDQ) {
    return absl::InvalidArgumentError(
        "a VPDQ (video) entry is submitted with video_hashes (its frames), "
        "not as one hash");
  }
  const size_t want = HashLengthForSignal(h.signal_type());
  if (want == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown or unspecified signal_type ",
                     static_cast<int>(h.signal_type())));
  }
  if (h.raw().empty() == h.hex().empty()) {
    return absl::InvalidArgumentError(
        "exactly one of hash.raw and hash.hex must be set");
  }
  if (!h.raw().empty()) {
    item.hash = h.raw();
  } else {
    if (h.hex().size() != 2 * want) {
      return absl::InvalidArgumentError(
          absl::StrCat(v1::SignalType_Name(h.signal_type()), " hex must be ",
                       2 * want, " characters, got ", h.hex().size()));
    }
    absl::StatusOr<std::string> raw = HexToBytes(h.hex());
    if (!raw.ok()) return Prefixed(raw.status(), "hash.hex: ");
    item.hash = *std::move(raw);
  }
  if (item.hash.size() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat(v1::SignalType_Name(h.signal_type()), " hash must be ",
                     want, " bytes, got ", item.hash.size()));
  }
  if (h.has_quality()) {
    if (h.quality() < 0 || h.quality() > 100) {
      return absl::InvalidArgumentError(
          absl::StrCat("hash.quality must be in 0..100, got ", h.quality()));
    }
    item.quality = h.quality();
  }
  return item;
}

absl::Status ValidateFilter(const v1::EntryFilter& f) {
  for (int s : f.signal_types()) {
    if (HashLengthForSignal(static_cast<v1::SignalType>(s)) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter.signal_types: unknown signal type ", s));
    }
  }
  for (int s : f.states()) {
    if (s == v1::VETTING_STATE_UNSPECIFIED || !v1::VettingState_IsValid(s)) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter.states: unknown vetting state ", s));
    }
  }
  if (f.updated_since_micros() < 0) {
    return absl::InvalidArgumentError(
        "filter.updated_since_micros must not be negative");
  }
  return absl::OkStatus();
}

v1::VettingState QuorumState(const v1::Entry& e, int quorum) {
  return DistinctEndorsers(e) >= quorum ? v1::VETTING_STATE_ACTIVE
                                        : v1::VETTING_STATE_PENDING;
}

}  // namespace

int DistinctEndorsers(const v1::Entry& entry) {
  std::set<std::string> agencies;
  for (const v1::Endorsement& e : entry.endorsements()) {
    agencies.insert(e.agency());
  }
  return static_cast<int>(agencies.size());
}

absl::Status IngestCore::ValidateOptions(const IngestOptions& o) {
  if (o.quorum < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("quorum must be >= 1, got ", o.quorum));
  }
  if (o.max_batch < 1) return absl::InvalidArgumentError("max_batch < 1");
  if (o.max_page_size < 1 || o.default_page_size < 1 ||
      o.default_page_size > o.max_page_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("page sizes must satisfy 1 <= default (",
                     o.default_page_size, ") <= max (", o.max_page_size, ")"));
  }
  if (o.max_scanned_per_page < 1) {
    return absl::InvalidArgumentError("max_scanned_per_page < 1");
  }
  if (o.max_external_id_bytes < 1 || o.max_note_bytes < 1 ||
      o.max_label_bytes < 1 || o.max_disputes_per_entry < 1) {
    return absl::InvalidArgumentError("size limits must be >= 1");
  }
  return absl::OkStatus();
}

IngestCore::IngestCore(const IngestOptions& options, HashStore* store,
                       AuditSink* audit)
    : options_(options),
      store_(store),
      audit_(audit),
      page_tokens_(options.page_token_key) {}

int64_t IngestCore::Now() const {
  if (options_.now_micros) return options_.now_micros();
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status IngestCore::CheckAuditHealthy() const {
  if (audit_error_.ok()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      "mutations refused: the audit log failed (", audit_error_.message(),
      "); restart the server to recover the audit log"));
}

absl::Status IngestCore::AppendAudit(const std::vector<AuditEvent>& events) {
  absl::Status s = audit_->Append(events);
  if (s.ok()) return s;
  audit_error_ = s;
  const uint64_t first = events.empty() ? 0 : events.front().store_sequence;
  const uint64_t last = events.empty() ? 0 : events.back().store_sequence;
  return absl::Status(
      s.code(),
      absl::StrCat("the change was committed (store sequence ", first,
                   first == last ? "" : absl::StrCat("..", last),
                   ") but appending its audit events failed: ", s.message()));
}

absl::StatusOr<v1::SubmitResponse> IngestCore::Submit(
    const v1::Principal& caller, const v1::SubmitRequest& request) {
  const std::string& agency = caller.name();
  if (request.submissions().empty()) {
    return absl::InvalidArgumentError("no submissions");
  }
  if (static_cast<size_t>(request.submissions_size()) > options_.max_batch) {
    return absl::ResourceExhaustedError(
        absl::StrCat("batch of ", request.submissions_size(),
                     " submissions is over the limit of ", options_.max_batch));
  }

  // Validate and hash everything before touching the store.
  std::vector<Item> items;
  std::map<std::string, size_t> seen_external;  // external id -> submission
  for (int i = 0; i < request.submissions_size(); ++i) {
    const v1::Submission& s = request.submissions(i);
    const std::string where = absl::StrCat("submission ", i, ": ");
    absl::Status st = Required("external_id", s.external_id(),
                               options_.max_external_id_bytes);
    if (st.ok()) {
      st = CheckLength("classification", s.classification(),
                       options_.max_label_bytes);
    }
    if (st.ok()) st = CheckLength("note", s.note(), options_.max_note_bytes);
    if (!st.ok()) return Prefixed(st, where);
    auto [it, inserted] = seen_external.emplace(s.external_id(), i);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "external_id '", s.external_id(),
                       "' repeats submission ", it->second));
    }
    std::vector<Item> produced;
    switch (s.content_case()) {
      case v1::Submission::kHash: {
        absl::StatusOr<Item> item = HashItem(s);
        if (!item.ok()) return Prefixed(item.status(), where);
        item->external_id = s.external_id();
        produced.push_back(*std::move(item));
        break;
      }
      case v1::Submission::kImage: {
        if (!caller.may_submit_media()) {
          return absl::PermissionDeniedError(absl::StrCat(
              where, "principal \"", agency,
              "\" may not submit images (may_submit_media is off); submit "
              "hashes instead"));
        }
        if (s.image().empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "image is empty"));
        }
        static constexpr Algorithm kAlgorithms[] = {
            Algorithm::kPdq, Algorithm::kMd5, Algorithm::kSha256};
        static constexpr v1::SignalType kSignals[] = {
            v1::SIGNAL_TYPE_PDQ, v1::SIGNAL_TYPE_MD5, v1::SIGNAL_TYPE_SHA256};
        static constexpr const char* kSuffixes[] = {"pdq", "md5", "sha256"};
        HashOptions hash_options;
        hash_options.decode = options_.image_decode;
        ImageHasher hasher;
        absl::StatusOr<ImageHashes> hashes =
            hasher.HashBytes(s.image(), kAlgorithms, hash_options);
        if (!hashes.ok()) {
          return Prefixed(hashes.status(), absl::StrCat(where, "image: "));
        }
        for (size_t k = 0; k < 3; ++k) {
          const HashResult& r = hashes->results[k];
          Item item;
          item.signal = kSignals[k];
          ASSIGN_OR_RETURN(item.hash, HexToBytes(r.hex));
          if (r.quality.has_value()) item.quality = *r.quality;
          item.external_id = absl::StrCat(s.external_id(), ":", kSuffixes[k]);
          produced.push_back(std::move(item));
        }
        break;
      }
      case v1::Submission::kVideoHashes: {
        absl::StatusOr<Item> item =
            VideoItem(s.video_hashes().frames(), options_.max_video_frames);
        if (!item.ok()) return Prefixed(item.status(), where);
        item->external_id = s.external_id();
        produced.push_back(*std::move(item));
        break;
      }
      case v1::Submission::kVideo: {
        if (!caller.may_submit_media()) {
          return absl::PermissionDeniedError(absl::StrCat(
              where, "principal \"", agency,
              "\" may not submit videos (may_submit_media is off); submit "
              "video_hashes instead"));
        }
        if (s.video().empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "video is empty"));
        }
        absl::StatusOr<VideoHashResult> hashed =
            HashVideo(s.video(), options_.video_hash);
        if (!hashed.ok()) {
          return Prefixed(hashed.status(), absl::StrCat(where, "video: "));
        }
        google::protobuf::RepeatedPtrField<v1::VideoFrame> frames;
        for (const VideoFrameHash& f : hashed->frames) {
          *frames.Add() = ToProto(f);
        }
        if (frames.empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, "video: no frame of PDQ quality >= ",
              options_.video_hash.min_quality, " to make an entry of"));
        }
        absl::StatusOr<Item> item =
            VideoItem(frames, options_.max_video_frames);
        if (!item.ok()) return Prefixed(item.status(), where);
        item->external_id = s.external_id();
        produced.push_back(*std::move(item));
        break;
      }
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            where, "none of hash, image, video_hashes and video is set"));
    }
    for (Item& item : produced) {
      item.submission = static_cast<size_t>(i);
      item.classification = s.classification();
      item.note = s.note();
      items.push_back(std::move(item));
    }
  }
  // An image's derived ids may collide with another submission's id.
  {
    std::set<std::string> ids;
    for (const Item& item : items) {
      if (!ids.insert(item.external_id).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            "submission ", item.submission, ": external_id '", item.external_id,
            "' is also used by another submission"));
      }
    }
  }

  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(CheckAuditHealthy());
  const int64_t now = Now();

  // The write: entries in Put order with what the audit needs.
  std::vector<v1::Entry> puts;
  std::vector<std::string> befores;
  std::vector<std::string> actions;
  std::vector<std::string> details;
  std::map<uint64_t, size_t> put_of_id;  // other agencies' entries in puts
  // Per item: an index into puts, or the unchanged existing entry.
  std::vector<std::optional<size_t>> slot(items.size());
  std::vector<v1::Entry> unchanged(items.size());

  for (size_t n = 0; n < items.size(); ++n) {
    const Item& item = items[n];
    const std::string where =
        absl::StrCat("submission ", item.submission, ": ");
    absl::StatusOr<uint64_t> existing_id =
        store_->FindExternal(agency, item.external_id);
    if (!existing_id.ok() && !absl::IsNotFound(existing_id.status())) {
      return existing_id.status();
    }
    if (existing_id.ok()) {
      ASSIGN_OR_RETURN(v1::Entry old, store_->Get(*existing_id));
      if (IsLive(old)) {
        if (old.signal_type() != item.signal || old.hash() != item.hash) {
          return absl::AlreadyExistsError(absl::StrCat(
              where, "external_id '", item.external_id, "' of agency '", agency,
              "' already names entry ", old.id(),
              " with a different hash; retract it first"));
        }
        v1::Entry updated = old;
        updated.set_classification(item.classification);
        updated.set_note(item.note);
        if (item.quality.has_value()) updated.set_quality(*item.quality);
        if (Serialize(updated) == Serialize(old)) {
          unchanged[n] = std::move(old);
          continue;
        }
        slot[n] = puts.size();
        befores.push_back(Serialize(old));
        actions.push_back("submit");
        details.push_back("resubmission");
        puts.push_back(std::move(updated));
        continue;
      }
    }

    v1::Entry e;
    e.set_signal_type(item.signal);
    e.set_hash(item.hash);
    *e.mutable_video_frames() = item.frames;
    if (item.quality.has_value()) e.set_quality(*item.quality);
    e.set_source_agency(agency);
    e.set_external_id(item.external_id);
    e.set_classification(item.classification);
    e.set_note(item.note);
    v1::Endorsement* self = e.add_endorsements();
    self->set_agency(agency);
    self->set_at_micros(now);
    self->set_note("submitted");

    ASSIGN_OR_RETURN(std::vector<v1::Entry> same,
                     store_->LookupHash(item.signal, item.hash));
    for (const v1::Entry& x : same) {
      if (x.source_agency() == agency || !IsLive(x)) continue;
      if (!EndorsedBy(e, x.source_agency())) {
        v1::Endorsement* en = e.add_endorsements();
        en->set_agency(x.source_agency());
        en->set_at_micros(now);
        en->set_note(absl::StrCat("submitted the same hash as entry ", x.id()));
      }
      auto it = put_of_id.find(x.id());
      v1::Entry* other;
      if (it == put_of_id.end()) {
        put_of_id[x.id()] = puts.size();
        befores.push_back(Serialize(x));
        actions.push_back("endorse");
        details.push_back("independent submission of the same hash");
        puts.push_back(x);
        other = &puts.back();
      } else {
        other = &puts[it->second];
      }
      if (!EndorsedBy(*other, agency)) {
        v1::Endorsement* en = other->add_endorsements();
        en->set_agency(agency);
        en->set_at_micros(now);
        en->set_note(absl::StrCat("submitted the same hash independently (",
                                  item.external_id, ")"));
      }
      if (other->state() == v1::VETTING_STATE_PENDING) {
        other->set_state(QuorumState(*other, options_.quorum));
      }
    }
    e.set_state(QuorumState(e, options_.quorum));
    slot[n] = puts.size();
    befores.push_back("");
    actions.push_back("submit");
    details.push_back("");
    puts.push_back(std::move(e));
  }

  v1::SubmitResponse response;
  if (puts.empty()) {
    for (v1::Entry& e : unchanged) *response.add_entries() = std::move(e);
    response.set_sequence(store_->LastSequence());
    return response;
  }
  ASSIGN_OR_RETURN(std::vector<v1::Entry> stored, store_->Put(puts));
  const uint64_t last = store_->LastSequence();
  const uint64_t first = last - stored.size() + 1;
  std::vector<AuditEvent> events(stored.size());
  for (size_t i = 0; i < stored.size(); ++i) {
    AuditEvent& ev = events[i];
    ev.actor = agency;
    ev.action = actions[i];
    ev.target = Target(stored[i].id());
    ev.state_before = std::move(befores[i]);
    ev.state_after = Serialize(stored[i]);
    ev.store_sequence = first + i;
    ev.detail = std::move(details[i]);
  }
  for (size_t n = 0; n < items.size(); ++n) {
    *response.add_entries() =
        slot[n].has_value() ? stored[*slot[n]] : std::move(unchanged[n]);
  }
  response.set_sequence(last);
  RETURN_IF_ERROR(AppendAudit(events));
  return response;
}

absl::StatusOr<v1::Entry> IngestCore::LoadLive(uint64_t id,
                                               absl::string_view action) {
  ASSIGN_OR_RETURN(v1::Entry e, store_->Get(id));
  if (!IsLive(e)) {
    return absl::FailedPreconditionError(
        absl::StrCat("entry ", id, " is retracted; it cannot be ", action));
  }
  return e;
}

absl::StatusOr<std::pair<v1::Entry, uint64_t>> IngestCore::PutOne(
    const v1::Principal& caller, absl::string_view action,
    const v1::Entry& before, const v1::Entry& after, absl::string_view detail) {
  ASSIGN_OR_RETURN(std::vector<v1::Entry> stored, store_->Put({after}));
  const uint64_t sequence = store_->LastSequence();
  AuditEvent ev;
  ev.actor = caller.name();
  ev.action = std::string(action);
  ev.target = Target(stored[0].id());
  ev.state_before = Serialize(before);
  ev.state_after = Serialize(stored[0]);
  ev.store_sequence = sequence;
  ev.detail = std::string(detail);
  RETURN_IF_ERROR(AppendAudit({ev}));
  return std::make_pair(std::move(stored[0]), sequence);
}

absl::StatusOr<v1::RetractResponse> IngestCore::Retract(
    const v1::Principal& caller, const v1::RetractRequest& request) {
  RETURN_IF_ERROR(CheckEntryId(request.entry_id()));
  RETURN_IF_ERROR(
      Required("reason", request.reason(), options_.max_note_bytes));
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(CheckAuditHealthy());
  ASSIGN_OR_RETURN(v1::Entry old, store_->Get(request.entry_id()));
  if (old.source_agency() != caller.name()) {
    return absl::PermissionDeniedError(
        absl::StrCat("agency \"", caller.name(),
                     "\" may retract only its own entries; entry ", old.id(),
                     " belongs to \"", old.source_agency(), "\""));
  }
  if (!IsLive(old)) {
    return absl::FailedPreconditionError(
        absl::StrCat("entry ", old.id(), " is already retracted"));
  }
  ASSIGN_OR_RETURN(v1::Entry tomb,
                   store_->Retract(old.id(), caller.name(), request.reason()));
  const uint64_t sequence = store_->LastSequence();
  AuditEvent ev;
  ev.actor = caller.name();
  ev.action = "retract";
  ev.target = Target(old.id());
  ev.state_before = Serialize(old);
  ev.state_after = Serialize(tomb);
  ev.store_sequence = sequence;
  ev.detail = request.reason();
  v1::RetractResponse response;
  *response.mutable_entry() = std::move(tomb);
  response.set_sequence(sequence);
  RETURN_IF_ERROR(AppendAudit({ev}));
  return response;
}

absl::StatusOr<v1::ConfirmResponse> IngestCore::Confirm(
    const v1::Principal& caller, const v1::ConfirmRequest& request) {
  RETURN_IF_ERROR(CheckEntryId(request.entry_id()));
  RETURN_IF_ERROR(CheckLength("note", request.note(), options_.max_note_bytes));
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(CheckAuditHealthy());
  ASSIGN_OR_RETURN(v1::Entry old, LoadLive(request.entry_id(), "confirmed"));
  if (old.source_agency() == caller.name()) {
    return absl::PermissionDeniedError(
        absl::StrCat("agency \"", caller.name(),
                     "\" may confirm only other agencies' entries; entry ",
                     old.id(), " is its own"));
  }
  if (EndorsedBy(old, caller.name())) {
    return absl::AlreadyExistsError(absl::StrCat(
        "agency \"", caller.name(), "\" already endorses entry ", old.id()));
  }
  v1::Entry e = old;
  v1::Endorsement* en = e.add_endorsements();
  en->set_agency(caller.name());
  en->set_at_micros(Now());
  en->set_note(request.note());
  if (e.state() == v1::VETTING_STATE_PENDING) {
    e.set_state(QuorumState(e, options_.quorum));
  }
  ASSIGN_OR_RETURN(auto stored,
                   PutOne(caller, "confirm", old, e, request.note()));
  v1::ConfirmResponse response;
  *response.mutable_entry() = std::move(stored.first);
  response.set_sequence(stored.second);
  return response;
}

absl::StatusOr<v1::DisputeResponse> IngestCore::Dispute(
    const v1::Principal& caller, const v1::DisputeRequest& request) {
  RETURN_IF_ERROR(CheckEntryId(request.entry_id()));
  RETURN_IF_ERROR(
      Required("reason", request.reason(), options_.max_note_bytes));
  RETURN_IF_ERROR(CheckLength("content_ref", request.content_ref(),
                              options_.max_label_bytes));
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(CheckAuditHealthy());
  ASSIGN_OR_RETURN(v1::Entry old, LoadLive(request.entry_id(), "disputed"));
  if (static_cast<size_t>(old.disputes_size()) >=
      options_.max_disputes_per_entry) {
    return absl::ResourceExhaustedError(
        absl::StrCat("entry ", old.id(), " already has ", old.disputes_size(),
                     " disputes, the limit"));
  }
  v1::Entry e = old;
  v1::Dispute* d = e.add_disputes();
  d->set_platform(caller.name());
  d->set_at_micros(Now());
  d->set_reason(request.reason());
  d->set_content_ref(request.content_ref());
  const bool suspend = request.suspend() && options_.allow_platform_suspend;
  d->set_suspended(suspend);
  if (suspend) e.set_state(v1::VETTING_STATE_DISPUTED);
  ASSIGN_OR_RETURN(auto stored,
                   PutOne(caller, "dispute", old, e, request.reason()));
  v1::DisputeResponse response;
  *response.mutable_entry() = std::move(stored.first);
  response.set_sequence(stored.second);
  return response;
}

absl::StatusOr<v1::ResolveDisputeResponse> IngestCore::ResolveDispute(
    const v1::Principal& caller, const v1::ResolveDisputeRequest& request) {
  RETURN_IF_ERROR(CheckEntryId(request.entry_id()));
  const bool upheld =
      request.outcome() == v1::ResolveDisputeRequest::OUTCOME_UPHELD;
  if (!upheld &&
      request.outcome() != v1::ResolveDisputeRequest::OUTCOME_REJECTED) {
    return absl::InvalidArgumentError(
        "outcome must be OUTCOME_UPHELD or OUTCOME_REJECTED");
  }
  RETURN_IF_ERROR(
      Required("resolution", request.resolution(), options_.max_note_bytes));
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(CheckAuditHealthy());
  ASSIGN_OR_RETURN(v1::Entry old, store_->Get(request.entry_id()));
  if (old.source_agency() != caller.name() &&
      !HasRole(caller, v1::ROLE_ADMIN)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "only the owning agency (\"", old.source_agency(),
        "\") or an admin may resolve disputes of entry ", old.id()));
  }
  if (!IsLive(old)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "entry ", old.id(), " is retracted; its disputes cannot be resolved"));
  }
  const std::string outcome = upheld ? "upheld" : "rejected";
  const std::string detail = absl::StrCat(outcome, ": ", request.resolution());
  v1::Entry e = old;
  int open = 0;
  const int64_t now = Now();
  for (v1::Dispute& d : *e.mutable_disputes()) {
    if (!d.outcome().empty()) continue;
    ++open;
    d.set_resolved_by(caller.name());
    d.set_resolved_at_micros(now);
    d.set_outcome(outcome);
    d.set_resolution(request.resolution());
  }
  // Completing an upheld resolution interrupted before its retraction.
  const bool interrupted = open == 0 && upheld && e.disputes_size() > 0 &&
                           e.disputes().rbegin()->outcome() == "upheld";
  if (open == 0 && !interrupted) {
    return absl::FailedPreconditionError(
        absl::StrCat("entry ", old.id(), " has no open disputes"));
  }
  v1::ResolveDisputeResponse response;
  if (!interrupted) {
    if (!upheld && e.state() == v1::VETTING_STATE_DISPUTED) {
      e.set_state(QuorumState(e, options_.quorum));
    }
    ASSIGN_OR_RETURN(auto stored,
                     PutOne(caller, "resolve_dispute", old, e, detail));
    if (!upheld) {
      *response.mutable_entry() = std::move(stored.first);
      response.set_sequence(stored.second);
      return response;
    }
    e = std::move(stored.first);
  }
  ASSIGN_OR_RETURN(v1::Entry tomb, store_->Retract(e.id(), caller.name(),
                                                   request.resolution()));
  const uint64_t sequence = store_->LastSequence();
  AuditEvent ev;
  ev.actor = caller.name();
  ev.action = "retract";
  ev.target = Target(e.id());
  ev.state_before = Serialize(e);
  ev.state_after = Serialize(tomb);
  ev.store_sequence = sequence;
  ev.detail = detail;
  *response.mutable_entry() = std::move(tomb);
  response.set_sequence(sequence);
  RETURN_IF_ERROR(AppendAudit({ev}));
  return response;
}

absl::StatusOr<v1::Entry> IngestCore::GetEntry(
    const v1::GetEntryRequest& request) const {
  switch (request.key_case()) {
    case v1::GetEntryRequest::kEntryId:
      RETURN_IF_ERROR(CheckEntryId(request.entry_id()));
      return store_->Get(request.entry_id());
    case v1::GetEntryRequest::kExternal: {
      const v1::ExternalKey& k = request.external();
      if (k.agency().empty() || k.external_id().empty()) {
        return absl::InvalidArgumentError(
            "external.agency and external.external_id are required");
      }
      ASSIGN_OR_RETURN(uint64_t id,
                       store_->FindExternal(k.agency(), k.external_id()));
      return store_->Get(id);
    }
    default:
      return absl::InvalidArgumentError(
          "one of entry_id or external is required");
  }
}

absl::StatusOr<v1::ListEntriesResponse> IngestCore::ListEntries(
    const v1::ListEntriesRequest& request) const {
  if (request.page_size() < 0 || request.page_size() > options_.max_page_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be in 0..", options_.max_page_size,
                     ", got ", request.page_size()));
  }
  RETURN_IF_ERROR(ValidateFilter(request.filter()));
  const size_t page_size =
      static_cast<size_t>(request.page_size() == 0 ? options_.default_page_size
                                                   : request.page_size());
  const std::string filter_bytes = request.filter().SerializeAsString();
  uint64_t after_id = 0;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(after_id,
                     page_tokens_.Decode(request.page_token(), filter_bytes));
  }
  v1::ListEntriesResponse response;
  size_t scanned = 0;
  uint64_t last_scanned = after_id;
  bool stopped = false;
  uint64_t next_after = 0;
  absl::StatusOr<uint64_t> scan =
      store_->ForEachEntry(after_id, [&](const v1::Entry& e) -> absl::Status {
        if (EntryMatchesFilter(request.filter(), e)) {
          if (static_cast<size_t>(response.entries_size()) == page_size) {
            stopped = true;
            next_after = last_scanned;
            return absl::CancelledError("page full");
          }
          *response.add_entries() = e;
        }
        last_scanned = e.id();
        if (++scanned >= options_.max_scanned_per_page) {
          stopped = true;
          next_after = last_scanned;
          return absl::CancelledError("scan limit");
        }
        return absl::OkStatus();
      });
  if (!scan.ok() && !stopped) return scan.status();
  if (stopped)
    response.set_next_page_token(page_tokens_.Encode(next_after, filter_bytes));
  return response;
}

absl::StatusOr<std::optional<v1::Entry>> EntryExport::Next() {
  while (true) {
    ASSIGN_OR_RETURN(std::optional<v1::Entry> e, cursor_->Next());
    if (!e.has_value() || EntryMatchesFilter(filter_, *e)) return e;
  }
}

absl::StatusOr<std::unique_ptr<EntryExport>> IngestCore::StartExport(
    const v1::ExportEntriesRequest& request) const {
  RETURN_IF_ERROR(ValidateFilter(request.filter()));
  ASSIGN_OR_RETURN(std::unique_ptr<HashStore::EntryCursor> cursor,
                   store_->NewEntryCursor(0));
  return std::unique_ptr<EntryExport>(
      new EntryExport(request.filter(), std::move(cursor)));
}

absl::Status IngestCore::ExportEntries(const v1::ExportEntriesRequest& request,
                                       const EntryCallback& callback) const {
  ASSIGN_OR_RETURN(std::unique_ptr<EntryExport> exp, StartExport(request));
  while (true) {
    ASSIGN_OR_RETURN(std::optional<v1::Entry> e, exp->Next());
    if (!e.has_value()) return absl::OkStatus();
    RETURN_IF_ERROR(callback(*e));
  }
}

}  // namespace ingest
}  // namespace hashmatch
