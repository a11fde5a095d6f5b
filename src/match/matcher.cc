#include "src/match/matcher.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "src/common/status_macros.h"
#include "src/hashing/bit_hash.h"
#include "src/hashing/image_hasher.h"
#include "src/hashing/image_header.h"
#include "src/match/match_policy.h"

namespace hashmatch {

using hashmatch::v1::ComputedHash;
using hashmatch::v1::Entry;
using hashmatch::v1::EntryMatch;
using hashmatch::v1::IndexInfo;
using hashmatch::v1::MatchBatchRequest;
using hashmatch::v1::MatchBatchResponse;
using hashmatch::v1::MatchHashesRequest;
using hashmatch::v1::MatchImageRequest;
using hashmatch::v1::MatchOptions;
using hashmatch::v1::MatchResponse;
using hashmatch::v1::SignalType;

namespace {

constexpr int kMaxPdqThreshold = 63;
constexpr int kMaxShortThreshold = 32;

// Signal types with a lane, in the order the policy checks them.
constexpr SignalType kLaneOrder[] = {
    hashmatch::v1::SIGNAL_TYPE_MD5, hashmatch::v1::SIGNAL_TYPE_SHA256,
    hashmatch::v1::SIGNAL_TYPE_PDQ, hashmatch::v1::SIGNAL_TYPE_PHASH,
    hashmatch::v1::SIGNAL_TYPE_DHASH};

int LaneRank(SignalType signal) {
  for (int i = 0; i < 5; ++i) {
    if (kLaneOrder[i] == signal) return i;
  }
  return 5;
}

// A signal type a query hash may have: one of kLaneOrder. VPDQ is not (a
// video's identity hash is no query; its frames go to MatchVideo), nor are
// UNSPECIFIED, reserved or unknown values.
bool IsLaneSignal(int value) {
  return std::find(std::begin(kLaneOrder), std::end(kLaneOrder), value) !=
         std::end(kLaneOrder);
}

std::string SignalName(int value) {
  if (hashmatch::v1::SignalType_IsValid(value)) {
    return hashmatch::v1::SignalType_Name(static_cast<SignalType>(value));
  }
  return absl::StrCat("unknown signal_type ", value);
}

Algorithm AlgorithmFor(SignalType signal) {
  switch (signal) {
    case hashmatch::v1::SIGNAL_TYPE_PHASH:
      return Algorithm::kPhash;
    case hashmatch::v1::SIGNAL_TYPE_DHASH:
      return Algorithm::kDhash;
    case hashmatch::v1::SIGNAL_TYPE_MD5:
      return Algorithm::kMd5;
    case hashmatch::v1::SIGNAL_TYPE_SHA256:
      return Algorithm::kSha256;
    default:
      return Algorithm::kPdq;
  }
}

SignalType SignalFor(Algorithm a) {
  switch (a) {
    case Algorithm::kPhash:
      return hashmatch::v1::SIGNAL_TYPE_PHASH;
    case Algorithm::kDhash:
      return hashmatch::v1::SIGNAL_TYPE_DHASH;
    case Algorithm::kMd5:
      return hashmatch::v1::SIGNAL_TYPE_MD5;
    case Algorithm::kSha256:
      return hashmatch::v1::SIGNAL_TYPE_SHA256;
    default:
      return hashmatch::v1::SIGNAL_TYPE_PDQ;
  }
}

// One hash of the query, as bytes.
struct Query {
  SignalType signal = hashmatch::v1::SIGNAL_TYPE_UNSPECIFIED;
  std::string hash;
  std::optional<int> quality;
  // PDQ with dihedral lookup: the 8 variants concatenated (8 x 32 bytes).
  std::string dihedral;
};

// MatchOptions with the server defaults filled in.
struct Resolved {
  PolicyThresholds thresholds;
  bool dihedral = true;
  bool video_frames = true;
  int max_matches = 100;
};

absl::Status CheckRange(absl::string_view name, int value, int lo, int hi) {
  if (value < lo || value > hi) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " is ", value, ", outside the allowed range ", lo, "..", hi));
  }
  return absl::OkStatus();
}

absl::StatusOr<Resolved> Resolve(const MatchOptions& o,
                                 const MatcherOptions& defaults) {
  Resolved r;
  r.thresholds.pdq =
      o.has_pdq_threshold() ? o.pdq_threshold() : defaults.pdq_threshold;
  r.thresholds.phash =
      o.has_phash_threshold() ? o.phash_threshold() : defaults.phash_threshold;
  r.thresholds.dhash =
      o.has_dhash_threshold() ? o.dhash_threshold() : defaults.dhash_threshold;
  r.thresholds.pdq_quality_gate = defaults.pdq_quality_gate;
  r.dihedral = o.has_dihedral() ? o.dihedral() : defaults.dihedral;
  r.video_frames =
      o.has_video_frames() ? o.video_frames() : defaults.video_frames;
  r.max_matches =
      o.has_max_matches() ? o.max_matches() : defaults.default_max_matches;
  RETURN_IF_ERROR(CheckRange("options.pdq_threshold", r.thresholds.pdq, 0,
                             kMaxPdqThreshold));
  RETURN_IF_ERROR(CheckRange("options.phash_threshold", r.thresholds.phash, 0,
                             kMaxShortThreshold));
  RETURN_IF_ERROR(CheckRange("options.dhash_threshold", r.thresholds.dhash, 0,
                             kMaxShortThreshold));
  RETURN_IF_ERROR(CheckRange("options.max_matches", r.max_matches, 1,
                             defaults.max_max_matches));
  return r;
}

absl::Status CheckContentRef(const std::string& ref, int limit) {
  if (ref.size() > static_cast<size_t>(limit)) {
    return absl::InvalidArgumentError(
        absl::StrCat("content_ref is ", ref.size(),
                     " bytes, over the limit of ", limit, " bytes"));
  }
  return absl::OkStatus();
}

// Prefixes a status message, keeping the code.
absl::Status Annotate(const absl::Status& s, absl::string_view prefix) {
  return absl::Status(s.code(), absl::StrCat(prefix, s.message()));
}

// A decode/hash error for the caller: "image: " + the message, minus the
// "(first bytes XXXXXXXX)" the header parser adds for an unknown format, so
// that no byte of the upload reaches a response or a log.
absl::Status ImageError(const absl::Status& s) {
  std::string message(s.message());
  const size_t start = message.find(" (first bytes ");
  if (start != std::string::npos) {
    const size_t end = message.find(')', start);
    message.erase(
        start, end == std::string::npos ? std::string::npos : end + 1 - start);
  }
  return absl::Status(s.code(), absl::StrCat("image: ", message));
}

// Idle ImageHashers (each owns PDQ scratch buffers, so one per concurrent
// call). The lock is held only to pop or push a pointer, never while hashing;
// at most `max_idle` hashers are kept, so a burst does not pin its buffers.
class HasherPool {
 public:
  explicit HasherPool(size_t max_idle) : max_idle_(max_idle) {}

  std::unique_ptr<ImageHasher> Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        std::unique_ptr<ImageHasher> h = std::move(idle_.back());
        idle_.pop_back();
        return h;
      }
    }
    return std::make_unique<ImageHasher>();
  }

  void Release(std::unique_ptr<ImageHasher> hasher) {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(hasher));
  }

 private:
  const size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<ImageHasher>> idle_;  // Guarded by mu_.
};

}  // namespace

struct Matcher::Impl {
  Impl(const HashStore* store, const VettedIndex* index,
       const MatcherOptions& options)
      : store(store),
        index(index),
        options(options),
        hashers(std::max(2u, std::thread::hardware_concurrency())),
        video(store, index, options.video) {}

  absl::StatusOr<MatchResponse> Match(const std::vector<Query>& queries,
                                      const Resolved& resolved,
                                      const std::string& content_ref) const;
  absl::StatusOr<MatchResponse> MatchImage(const MatchImageRequest& request,
                                           const MatchControl& control) const;

  const HashStore* const store;
  const VettedIndex* const index;
  const MatcherOptions options;
  mutable HasherPool hashers;
  const VideoMatcher video;

  // GetIndexInfo's MD5/SHA-256 counts: HashStore::Stats scans every entry,
  // so it runs only when the store moved and the counts are older than
  // options.exact_counts_max_age_ms, by one caller at a time (the others
  // get the previous counts without waiting).
  std::optional<StoreStats> ExactCounts() const;

  mutable std::mutex stats_mu;
  mutable std::optional<StoreStats> stats;                   // Guarded.
  mutable std::chrono::steady_clock::time_point stats_time;  // Guarded.
  mutable bool stats_refreshing = false;                     // Guarded.
};

absl::StatusOr<MatchResponse> Matcher::Impl::Match(
    const std::vector<Query>& queries, const Resolved& resolved,
    const std::string& content_ref) const {
  MatchResponse response;
  response.set_content_ref(content_ref);
  response.set_index_sequence(index->applied_sequence());

  PolicyInput input;
  input.dihedral = resolved.dihedral;
  // Entries read by the exact lanes, reused for the match metadata.
  absl::flat_hash_map<uint64_t, Entry> entries;
  // Best hit per entry id (several query hashes may hit one entry).
  absl::flat_hash_map<uint64_t, LaneHit> best;
  auto add_hit = [&best](const LaneHit& hit) {
    auto [it, inserted] = best.try_emplace(hit.entry_id, hit);
    if (!inserted && hit.distance < it->second.distance) it->second = hit;
  };

  std::vector<const Query*> ordered;
  for (const Query& q : queries) ordered.push_back(&q);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const Query* a, const Query* b) {
                     return LaneRank(a->signal) < LaneRank(b->signal);
                   });

  for (const Query* q : ordered) {
    ComputedHash* computed = response.add_query_hashes();
    computed->set_signal_type(q->signal);
    computed->set_hex(BytesToHex(q->hash));
    if (q->signal == hashmatch::v1::SIGNAL_TYPE_PDQ && q->quality.has_value()) {
      computed->set_quality(*q->quality);
      if (!input.lowest_pdq_quality.has_value() ||
          *q->quality < *input.lowest_pdq_quality) {
        input.lowest_pdq_quality = *q->quality;
      }
    }
    input.lanes_checked.push_back(q->signal);

    if (IsExactSignal(q->signal)) {
      absl::StatusOr<std::vector<Entry>> found =
          store->LookupHash(q->signal, q->hash);
      if (!found.ok()) {
        return absl::InternalError(
            absl::StrCat("store lookup failed: ", found.status().ToString()));
      }
      for (Entry& e : *found) {
        if (e.state() != hashmatch::v1::VETTING_STATE_ACTIVE) continue;
        add_hit(LaneHit{q->signal, e.id(), 0, std::nullopt});
        const uint64_t id = e.id();
        entries.emplace(id, std::move(e));
      }
      continue;
    }

    const int radius = ThresholdFor(q->signal, resolved.thresholds);
    const auto* code = reinterpret_cast<const uint8_t*>(q->hash.data());
    if (q->signal == hashmatch::v1::SIGNAL_TYPE_PDQ && resolved.video_frames) {
      absl::StatusOr<std::vector<VideoFrameMatch>> frames =
          index->SearchVideoFrames(absl::MakeConstSpan(code, q->hash.size()),
                                   radius);
      if (!frames.ok()) {
        return absl::InternalError(absl::StrCat("video frame search failed: ",
                                                frames.status().ToString()));
      }
      for (const VideoFrameMatch& f : *frames) {
        LaneHit hit{hashmatch::v1::SIGNAL_TYPE_VPDQ, f.entry_id, f.distance,
                    std::nullopt};
        hit.video_frame = f.frame;
        add_hit(hit);
      }
      if (std::find(input.lanes_checked.begin(), input.lanes_checked.end(),
                    hashmatch::v1::SIGNAL_TYPE_VPDQ) ==
          input.lanes_checked.end()) {
        input.lanes_checked.push_back(hashmatch::v1::SIGNAL_TYPE_VPDQ);
      }
    }
    if (q->signal == hashmatch::v1::SIGNAL_TYPE_PDQ && !q->dihedral.empty()) {
      absl::StatusOr<std::vector<DihedralMatch>> found = index->SearchDihedral(
          q->signal,
          absl::MakeConstSpan(
              reinterpret_cast<const uint8_t*>(q->dihedral.data()),
              q->dihedral.size()),
          radius);
      if (!found.ok()) {
        return absl::InternalError(
            absl::StrCat("index search failed: ", found.status().ToString()));
      }
      for (const DihedralMatch& m : *found) {
        add_hit(LaneHit{q->signal, m.id, m.distance,
                        static_cast<Dihedral>(m.variant)});
      }
      continue;
    }
    absl::StatusOr<std::vector<hashmatch::Match>> found = index->Search(
        q->signal, absl::MakeConstSpan(code, q->hash.size()), radius);
    if (!found.ok()) {
      return absl::InternalError(
          absl::StrCat("index search failed: ", found.status().ToString()));
    }
    for (const hashmatch::Match& m : *found) {
      std::optional<Dihedral> variant;
      if (q->signal == hashmatch::v1::SIGNAL_TYPE_PDQ) {
        variant = Dihedral::kOriginal;
      }
      add_hit(LaneHit{q->signal, m.id, m.distance, variant});
    }
  }

  input.hits.reserve(best.size());
  for (const auto& [id, hit] : best) input.hits.push_back(hit);
  const Decision decision = DecideMatch(input, resolved.thresholds);
  response.set_verdict(decision.verdict);
  response.set_rule(decision.rule);
  response.set_rule_detail(decision.detail);

  // Best first: exact lanes, then distance, then entry id.
  std::sort(input.hits.begin(), input.hits.end(),
            [](const LaneHit& a, const LaneHit& b) {
              return std::make_tuple(!IsExactSignal(a.signal), a.distance,
                                     a.entry_id) <
                     std::make_tuple(!IsExactSignal(b.signal), b.distance,
                                     b.entry_id);
            });
  const size_t shown =
      std::min(input.hits.size(), static_cast<size_t>(resolved.max_matches));
  response.set_matches_truncated(shown < input.hits.size());
  for (size_t i = 0; i < shown; ++i) {
    const LaneHit& hit = input.hits[i];
    Entry fetched;
    const Entry* entry;
    if (auto it = entries.find(hit.entry_id); it != entries.end()) {
      entry = &it->second;
    } else {
      absl::StatusOr<Entry> got = store->Get(hit.entry_id);
      if (!got.ok()) {
        return absl::InternalError(
            absl::StrCat("reading matched entry ", hit.entry_id,
                         " failed: ", got.status().ToString()));
      }
      fetched = *std::move(got);
      entry = &fetched;
    }
    EntryMatch* m = response.add_matches();
    m->set_entry_id(hit.entry_id);
    m->set_signal_type(hit.signal);
    m->set_distance(hit.distance);
    if (hit.dihedral.has_value()) {
      m->set_dihedral(ToDihedralVariant(*hit.dihedral));
    }
    m->set_classification(entry->classification());
    m->set_source_agency(entry->source_agency());
    m->set_state(entry->state());
    m->set_entry_hash_hex(BytesToHex(entry->hash()));
    if (hit.video_frame >= 0) {
      m->set_video_frame(hit.video_frame);
      if (hit.video_frame < entry->video_frames_size()) {
        m->set_video_timestamp_seconds(
            entry->video_frames(hit.video_frame).timestamp_seconds());
      }
    }
  }
  return response;
}

absl::StatusOr<MatchResponse> Matcher::Impl::MatchImage(
    const MatchImageRequest& request, const MatchControl& control) const {
  RETURN_IF_ERROR(
      CheckContentRef(request.content_ref(), options.max_content_ref_bytes));
  ASSIGN_OR_RETURN(Resolved resolved, Resolve(request.options(), options));

  std::vector<Algorithm> algorithms;
  std::vector<SignalType> wanted;
  for (int value : request.options().signals()) {
    if (!IsLaneSignal(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("options.signals: ", SignalName(value),
                       " is not allowed (use PDQ, PHASH, DHASH, MD5, SHA256)"));
    }
    wanted.push_back(static_cast<SignalType>(value));
  }
  if (wanted.empty()) wanted = options.default_signals;
  bool pixels = false, pdq = false;
  for (SignalType s : wanted) {
    const Algorithm a = AlgorithmFor(s);
    if (std::find(algorithms.begin(), algorithms.end(), a) !=
        algorithms.end()) {
      continue;
    }
    algorithms.push_back(a);
    pixels |= !IsExactSignal(s);
    pdq |= s == hashmatch::v1::SIGNAL_TYPE_PDQ;
  }
  if (!pdq) resolved.dihedral = false;

  const std::string& bytes = request.image();
  if (bytes.empty()) return absl::InvalidArgumentError("image is empty");
  if (bytes.size() > options.decode.max_encoded_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("image is ", bytes.size(), " bytes, over the limit of ",
                     options.decode.max_encoded_bytes, " bytes"));
  }
  if (!pixels) {
    // MD5/SHA-256 alone decode nothing; still refuse what is not an image
    // within the limits.
    absl::StatusOr<ImageHeader> header = ParseImageHeader(bytes);
    if (!header.ok()) return ImageError(header.status());
    if (header->width * header->height > options.decode.max_pixels) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "image is ", header->width, "x", header->height, " = ",
          header->width * header->height, " pixels, over the limit of ",
          options.decode.max_pixels, " pixels"));
    }
  }

  HashOptions hash_options;
  hash_options.decode = options.decode;
  hash_options.decode.deadline = control.deadline;
  hash_options.decode.cancelled = control.cancelled;
  hash_options.dihedral = resolved.dihedral;
  std::unique_ptr<ImageHasher> hasher = hashers.Acquire();
  absl::StatusOr<ImageHashes> hashed =
      hasher->HashBytes(bytes, algorithms, hash_options);
  hashers.Release(std::move(hasher));
  if (!hashed.ok()) return ImageError(hashed.status());

  std::vector<Query> queries;
  for (const HashResult& r : hashed->results) {
    Query q;
    q.signal = SignalFor(r.algorithm);
    q.quality = r.quality;
    absl::StatusOr<std::string> raw = HexToBytes(r.hex);
    if (!raw.ok()) return absl::InternalError("hasher returned bad hex");
    q.hash = *std::move(raw);
    for (const std::string& hex : r.dihedral_hex) {
      absl::StatusOr<std::string> v = HexToBytes(hex);
      if (!v.ok()) return absl::InternalError("hasher returned bad hex");
      q.dihedral += *v;
    }
    queries.push_back(std::move(q));
  }
  return Match(queries, resolved, request.content_ref());
}

absl::StatusOr<std::unique_ptr<Matcher>> Matcher::Create(
    const HashStore* store, const VettedIndex* index,
    const MatcherOptions& options) {
  if (store == nullptr || index == nullptr) {
    return absl::InvalidArgumentError("Matcher needs a store and an index");
  }
  RETURN_IF_ERROR(
      CheckRange("pdq_threshold", options.pdq_threshold, 0, kMaxPdqThreshold));
  RETURN_IF_ERROR(CheckRange("phash_threshold", options.phash_threshold, 0,
                             kMaxShortThreshold));
  RETURN_IF_ERROR(CheckRange("dhash_threshold", options.dhash_threshold, 0,
                             kMaxShortThreshold));
  RETURN_IF_ERROR(
      CheckRange("pdq_quality_gate", options.pdq_quality_gate, 0, 100));
  RETURN_IF_ERROR(CheckRange("max_batch", options.max_batch, 1, 1 << 20));
  RETURN_IF_ERROR(CheckRange("max_hashes", options.max_hashes, 1, 1 << 20));
  RETURN_IF_ERROR(
      CheckRange("max_max_matches", options.max_max_matches, 1, 1 << 20));
  RETURN_IF_ERROR(CheckRange("default_max_matches", options.default_max_matches,
                             1, options.max_max_matches));
  RETURN_IF_ERROR(CheckRange("exact_counts_max_age_ms",
                             options.exact_counts_max_age_ms, 0, 1 << 30));
  RETURN_IF_ERROR(CheckRange("max_content_ref_bytes",
                             options.max_content_ref_bytes, 0, 1 << 20));
  if (options.decode.max_encoded_bytes == 0 || options.decode.max_pixels <= 0) {
    return absl::InvalidArgumentError(
        "decode.max_encoded_bytes and decode.max_pixels must be positive");
  }
  if (options.default_signals.empty()) {
    return absl::InvalidArgumentError("default_signals is empty");
  }
  RETURN_IF_ERROR(VideoMatcher::Validate(options.video));
  for (SignalType s : options.default_signals) {
    if (!IsLaneSignal(s)) {
      return absl::InvalidArgumentError(
          absl::StrCat("default_signals: ", SignalName(s), " is not allowed"));
    }
  }
  return std::unique_ptr<Matcher>(
      new Matcher(std::make_unique<Impl>(store, index, options)));
}

Matcher::Matcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Matcher::~Matcher() = default;

const MatcherOptions& Matcher::options() const { return impl_->options; }

const VideoMatcher& Matcher::video() const { return impl_->video; }

absl::StatusOr<MatchResponse> Matcher::MatchImage(
    const MatchImageRequest& request, const MatchControl& control) const {
  return impl_->MatchImage(request, control);
}

absl::StatusOr<MatchResponse> Matcher::MatchHashes(
    const MatchHashesRequest& request) const {
  const MatcherOptions& options = impl_->options;
  RETURN_IF_ERROR(
      CheckContentRef(request.content_ref(), options.max_content_ref_bytes));
  if (request.hashes().empty()) {
    return absl::InvalidArgumentError("no hashes in the request");
  }
  if (request.hashes_size() > options.max_hashes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(request.hashes_size(), " hashes, over the limit of ",
                     options.max_hashes, " per request"));
  }
  ASSIGN_OR_RETURN(Resolved resolved, Resolve(request.options(), options));
  // The dihedral variants of a PDQ hash come from the image's DCT, which a
  // caller's hash does not carry: MatchHashes matches the hashes as sent.
  resolved.dihedral = false;

  std::vector<Query> queries;
  for (int i = 0; i < request.hashes_size(); ++i) {
    const hashmatch::v1::QueryHash& h = request.hashes(i);
    const std::string where = absl::StrCat("hashes[", i, "]: ");
    const int type = h.signal_type();
    if (!IsLaneSignal(type)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, SignalName(type),
                       " is not allowed (use PDQ, PHASH, DHASH, MD5, SHA256)"));
    }
    Query q;
    q.signal = static_cast<SignalType>(type);
    const size_t length = HashLengthForSignal(q.signal);
    const absl::string_view name = SignalShortName(q.signal);
    if (!h.raw().empty() && !h.hex().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "set raw or hex, not both"));
    }
    if (h.raw().empty() && h.hex().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "no hash: set raw or hex"));
    }
    if (!h.hex().empty()) {
      if (h.hex().size() != 2 * length) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, name, " hex must be ", 2 * length,
                         " hex digits, got ", h.hex().size()));
      }
      absl::StatusOr<std::string> raw = HexToBytes(h.hex());
      if (!raw.ok()) return Annotate(raw.status(), where);
      q.hash = *std::move(raw);
    } else {
      if (h.raw().size() != length) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, name, " raw hash must be ", length,
                         " bytes, got ", h.raw().size()));
      }
      q.hash = h.raw();
    }
    if (h.has_quality()) {
      RETURN_IF_ERROR(
          CheckRange(absl::StrCat(where, "quality"), h.quality(), 0, 100));
      if (q.signal == hashmatch::v1::SIGNAL_TYPE_PDQ) q.quality = h.quality();
    }
    queries.push_back(std::move(q));
  }
  return impl_->Match(queries, resolved, request.content_ref());
}

absl::StatusOr<MatchBatchResponse> Matcher::MatchBatch(
    const MatchBatchRequest& request, const MatchControl& control) const {
  if (request.images().empty()) {
    return absl::InvalidArgumentError("no images in the batch");
  }
  if (request.images_size() > impl_->options.max_batch) {
    return absl::ResourceExhaustedError(
        absl::StrCat(request.images_size(), " images, over the limit of ",
                     impl_->options.max_batch, " per batch"));
  }
  MatchBatchResponse response;
  for (const MatchImageRequest& image : request.images()) {
    hashmatch::v1::MatchBatchItem* item = response.add_items();
    absl::StatusOr<MatchResponse> r = impl_->MatchImage(image, control);
    if (absl::IsDeadlineExceeded(r.status()) || absl::IsCancelled(r.status())) {
      return r.status();
    }
    if (r.ok()) {
      *item->mutable_response() = *std::move(r);
    } else {
      item->mutable_error()->set_code(static_cast<int>(r.status().code()));
      item->mutable_error()->set_message(std::string(r.status().message()));
    }
  }
  return response;
}

std::optional<StoreStats> Matcher::Impl::ExactCounts() const {
  std::unique_lock<std::mutex> lock(stats_mu);
  const auto now = std::chrono::steady_clock::now();
  const bool refresh =
      !stats_refreshing &&
      (!stats.has_value() ||
       (stats->last_sequence != store->LastSequence() &&
        now - stats_time >=
            std::chrono::milliseconds(options.exact_counts_max_age_ms)));
  if (!refresh) return stats;
  stats_refreshing = true;
  lock.unlock();
  absl::StatusOr<StoreStats> fresh = store->Stats();
  lock.lock();
  stats_refreshing = false;
  stats_time = std::chrono::steady_clock::now();
  // On a failure the previous counts (if any) stand.
  if (fresh.ok()) stats = *std::move(fresh);
  return stats;
}

IndexInfo Matcher::GetIndexInfo() const {
  const Impl& impl = *impl_;
  const MatcherOptions& o = impl.options;
  IndexInfo info;
  info.set_sequence(impl.index->applied_sequence());
  const std::optional<StoreStats> stats = impl.ExactCounts();
  for (SignalType s : kLaneOrder) {
    hashmatch::v1::SignalCount* count = info.add_counts();
    count->set_signal_type(s);
    if (IsExactSignal(s)) {
      if (stats.has_value()) {
        count->set_entries(
            stats->counts[s][hashmatch::v1::VETTING_STATE_ACTIVE]);
      }
    } else {
      count->set_entries(impl.index->size(s));
    }
  }
  // Video entries (not frames), from the store's counts like the exact lanes.
  hashmatch::v1::SignalCount* videos = info.add_counts();
  videos->set_signal_type(hashmatch::v1::SIGNAL_TYPE_VPDQ);
  if (stats.has_value()) {
    videos->set_entries(stats->counts[hashmatch::v1::SIGNAL_TYPE_VPDQ]
                                     [hashmatch::v1::VETTING_STATE_ACTIVE]);
  }
  info.set_pdq_threshold(o.pdq_threshold);
  info.set_phash_threshold(o.phash_threshold);
  info.set_dhash_threshold(o.dhash_threshold);
  info.set_dihedral(o.dihedral);
  info.set_pdq_quality_gate(o.pdq_quality_gate);
  for (SignalType s : o.default_signals) info.add_default_signals(s);
  info.set_max_image_bytes(static_cast<int64_t>(o.decode.max_encoded_bytes));
  info.set_max_pixels(o.decode.max_pixels);
  info.set_max_batch(o.max_batch);
  info.set_max_hashes(o.max_hashes);
  info.set_server_version(o.server_version);
  info.set_video_frames(o.video_frames);
  info.set_max_video_bytes(static_cast<int64_t>(o.video.hash.decode.max_bytes));
  info.set_max_video_frames(o.video.max_query_frames);
  return info;
}

}  // namespace hashmatch
