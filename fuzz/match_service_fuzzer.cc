// Fuzzes the MatchService request handlers in process: Matcher (and its
// VideoMatcher) over a real HashStore and VettedIndex in a scratch
// directory, holding a few ACTIVE entries of every signal type (and a
// PENDING one), with small limits (1 MP, 1 MiB images, 16 JPEG scans,
// 100 ms of JPEG decoding, batches of 3, 640x480 video decoded for 250 ms:
// well under libFuzzer's -timeout=1, so that a timeout means a limit did
// not hold).
//
// Input: one selector byte, then a serialized request:
//   0 MatchImageRequest   -> Matcher::MatchImage
//   1 MatchHashesRequest  -> Matcher::MatchHashes
//   2 MatchBatchRequest   -> Matcher::MatchBatch
//   3 MatchVideoHeader    -> VideoMatcher::MatchFrames
//   4 MatchImageRequest   -> VideoMatcher::MatchBytes (image = the video)
// make_corpus.py writes seeds of each; the entries' hashes are the
// constants below.
//
// Checks: errors are INVALID_ARGUMENT or RESOURCE_EXHAUSTED (video also
// DEADLINE_EXCEEDED), never INTERNAL; an OK response echoes content_ref,
// has a verdict and the rule that goes with it, lists at most max_matches
// matches, each an ACTIVE entry of the store at most once, exact lanes
// first then by distance and id, within the lane's threshold; a MATCH names
// a match of its lane; a batch has one item per image, each a response or
// an error with a documented code.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "fuzz/fuzz_util.h"
#include "google/protobuf/stubs/logging.h"
#include "index/store/hash_store.h"
#include "index/vetted/vetted_index.h"
#include "src/hashing/bit_hash.h"
#include "src/hashing/image_hasher.h"
#include "src/match/matcher.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;

// The entries' hashes (make_corpus.py repeats these formulas).
std::string HandMadePdq(int seed) {
  std::string h(32, '\0');
  for (int i = 0; i < 32; ++i) h[i] = static_cast<char>(seed * 37 + i * 101);
  return h;
}
std::string Repeated(int byte, int n) {
  return std::string(n, static_cast<char>(byte));
}

// The gradient image make_corpus.py also writes (gradient_64x48.png): its
// PDQ is an entry, so image seeds reach MATCH.
std::string GradientPng() {
  cv::Mat m(48, 64, CV_8UC3);
  for (int y = 0; y < m.rows; ++y) {
    for (int x = 0; x < m.cols; ++x) {
      m.at<cv::Vec3b>(y, x) =
          cv::Vec3b(static_cast<uint8_t>(x * 4), static_cast<uint8_t>(y * 5),
                    static_cast<uint8_t>((x + y) * 2));
    }
  }
  std::vector<uint8_t> buf;
  FUZZ_CHECK(cv::imencode(".png", m, buf));
  return std::string(buf.begin(), buf.end());
}

struct Fixture {
  std::string dir;
  std::unique_ptr<HashStore> store;
  std::unique_ptr<VettedIndex> index;
  std::unique_ptr<Matcher> matcher;
  // Entry id -> (signal type, state) of every stored entry.
  absl::flat_hash_map<uint64_t, v1::Entry> entries;
};

v1::Entry MakeEntry(v1::SignalType signal, std::string hash,
                    const std::string& external_id, v1::VettingState state) {
  v1::Entry e;
  e.set_signal_type(signal);
  e.set_hash(std::move(hash));
  e.set_source_agency("agency-1");
  e.set_external_id(external_id);
  e.set_classification("class-a");
  e.set_state(state);
  return e;
}

Fixture* MakeFixture() {
  auto* f = new Fixture();
  f->dir = fuzz::ScratchDir("match_service");
  StoreOptions so;
  so.sync = false;
  absl::StatusOr<std::unique_ptr<HashStore>> store =
      HashStore::Open(so, f->dir + "/store");
  FUZZ_CHECK(store.ok()) << store.status();
  f->store = *std::move(store);

  std::vector<v1::Entry> put;
  for (int seed = 1; seed <= 3; ++seed) {
    put.push_back(MakeEntry(v1::SIGNAL_TYPE_PDQ, HandMadePdq(seed),
                            "pdq-" + std::to_string(seed),
                            v1::VETTING_STATE_ACTIVE));
  }
  put.push_back(MakeEntry(v1::SIGNAL_TYPE_PDQ, HandMadePdq(4), "pdq-pending",
                          v1::VETTING_STATE_PENDING));
  put.push_back(MakeEntry(v1::SIGNAL_TYPE_PHASH,
                          *HexToBytes("0123456789abcdef"), "phash-1",
                          v1::VETTING_STATE_ACTIVE));
  put.push_back(MakeEntry(v1::SIGNAL_TYPE_DHASH,
                          *HexToBytes("fedcba9876543210"), "dhash-1",
                          v1::VETTING_STATE_ACTIVE));
  put.push_back(MakeEntry(v1::SIGNAL_TYPE_MD5, Repeated(0x11, 16), "md5-1",
                          v1::VETTING_STATE_ACTIVE));
  put.push_back(MakeEntry(v1::SIGNAL_TYPE_SHA256, Repeated(0x22, 32),
                          "sha256-1", v1::VETTING_STATE_ACTIVE));
  {
    ImageHasher hasher;
    const Algorithm algos[] = {Algorithm::kPdq, Algorithm::kMd5};
    absl::StatusOr<ImageHashes> h = hasher.HashBytes(GradientPng(), algos, {});
    FUZZ_CHECK(h.ok()) << h.status();
    put.push_back(MakeEntry(v1::SIGNAL_TYPE_PDQ, *HexToBytes(h->results[0].hex),
                            "gradient-pdq", v1::VETTING_STATE_ACTIVE));
    put.push_back(MakeEntry(v1::SIGNAL_TYPE_MD5, *HexToBytes(h->results[1].hex),
                            "gradient-md5", v1::VETTING_STATE_ACTIVE));
  }
  v1::Entry video =
      MakeEntry(v1::SIGNAL_TYPE_VPDQ, "", "video-1", v1::VETTING_STATE_ACTIVE);
  for (int i = 0; i < 3; ++i) {
    v1::VideoFrame* frame = video.add_video_frames();
    frame->set_pdq(HandMadePdq(10 + i));
    frame->set_quality(90);
    frame->set_frame_number(i * 30);
    frame->set_timestamp_seconds(i);
  }
  video.set_hash(VideoFramesDigest(video.video_frames()));
  put.push_back(video);

  absl::StatusOr<std::vector<v1::Entry>> stored = f->store->Put(put);
  FUZZ_CHECK(stored.ok()) << stored.status();
  for (const v1::Entry& e : *stored) f->entries[e.id()] = e;

  absl::StatusOr<std::unique_ptr<VettedIndex>> index =
      VettedIndex::Open(f->store.get(), VettedIndexOptions());
  FUZZ_CHECK(index.ok()) << index.status();
  f->index = *std::move(index);

  MatcherOptions mo;
  mo.decode.max_encoded_bytes = 1 << 20;
  mo.decode.max_pixels = 1 << 20;
  mo.decode.max_jpeg_scans = 16;
  mo.decode.max_decode_ms = 100;
  mo.max_batch = 3;
  mo.max_hashes = 16;
  mo.video.hash.decode.max_bytes = 1 << 20;
  mo.video.hash.decode.max_duration_seconds = 60;
  mo.video.hash.decode.max_frames = 600;
  mo.video.hash.decode.max_width = 640;
  mo.video.hash.decode.max_height = 480;
  mo.video.hash.decode.max_pixels = 640 * 480;
  mo.video.hash.decode.max_decode_seconds = 0.25;
  mo.video.max_query_frames = 200;
  absl::StatusOr<std::unique_ptr<Matcher>> matcher =
      Matcher::Create(f->store.get(), f->index.get(), mo);
  FUZZ_CHECK(matcher.ok()) << matcher.status();
  f->matcher = *std::move(matcher);
  // The first calls initialise libraries lazily: not in the first input.
  v1::MatchImageRequest warm_up;
  warm_up.set_image(GradientPng());
  absl::StatusOr<v1::MatchResponse> r = f->matcher->MatchImage(warm_up);
  FUZZ_CHECK(r.ok() && r->verdict() == v1::VERDICT_MATCH) << r.status();
  return f;
}

bool IsExact(v1::SignalType s) {
  return s == v1::SIGNAL_TYPE_MD5 || s == v1::SIGNAL_TYPE_SHA256;
}

void CheckError(const absl::Status& s, bool video) {
  FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument ||
             s.code() == absl::StatusCode::kResourceExhausted ||
             (video && s.code() == absl::StatusCode::kDeadlineExceeded))
      << s;
  FUZZ_CHECK(!s.message().empty());
  FUZZ_CHECK(fuzz::NoControlBytes(s.message())) << s;
}

// The rule that goes with each verdict.
void CheckVerdict(v1::Verdict verdict, v1::DecisionRule rule) {
  switch (verdict) {
    case v1::VERDICT_MATCH:
      FUZZ_CHECK(rule == v1::DECISION_RULE_EXACT_MD5 ||
                 rule == v1::DECISION_RULE_EXACT_SHA256 ||
                 rule == v1::DECISION_RULE_PDQ_THRESHOLD ||
                 rule == v1::DECISION_RULE_PHASH_THRESHOLD ||
                 rule == v1::DECISION_RULE_DHASH_THRESHOLD ||
                 rule == v1::DECISION_RULE_VIDEO_FRAME ||
                 rule == v1::DECISION_RULE_VIDEO_FRAMES_PERCENT)
          << rule;
      break;
    case v1::VERDICT_LOW_QUALITY:
      FUZZ_CHECK(rule == v1::DECISION_RULE_QUALITY_GATE) << rule;
      break;
    case v1::VERDICT_NO_MATCH:
      FUZZ_CHECK(rule == v1::DECISION_RULE_NO_ENTRY_WITHIN_THRESHOLD) << rule;
      break;
    default:
      FUZZ_CHECK(false) << "verdict " << verdict;
  }
}

void CheckResponse(const Fixture& f, const v1::MatchResponse& r,
                   const std::string& content_ref,
                   const v1::MatchOptions& options) {
  const MatcherOptions& mo = f.matcher->options();
  FUZZ_CHECK(r.content_ref() == content_ref);
  CheckVerdict(r.verdict(), r.rule());
  FUZZ_CHECK(fuzz::NoControlBytes(r.rule_detail())) << r.rule_detail();
  const int max_matches = options.has_max_matches() ? options.max_matches()
                                                    : mo.default_max_matches;
  FUZZ_CHECK(r.matches_size() <= max_matches) << r.matches_size();
  FUZZ_CHECK(!r.matches_truncated() || r.matches_size() == max_matches);
  FUZZ_CHECK(r.index_sequence() == f.store->LastSequence());
  for (const v1::ComputedHash& q : r.query_hashes()) {
    FUZZ_CHECK(q.hex().size() == 2 * HashLengthForSignal(q.signal_type()))
        << q.signal_type() << " " << q.hex();
    if (q.has_quality()) FUZZ_CHECK(q.quality() >= 0 && q.quality() <= 100);
  }
  std::set<uint64_t> seen;
  bool lane_of_verdict = r.verdict() != v1::VERDICT_MATCH;
  for (int i = 0; i < r.matches_size(); ++i) {
    const v1::EntryMatch& m = r.matches(i);
    auto it = f.entries.find(m.entry_id());
    FUZZ_CHECK(it != f.entries.end()) << "unknown entry " << m.entry_id();
    FUZZ_CHECK(it->second.state() == v1::VETTING_STATE_ACTIVE)
        << "matched a non-active entry " << m.entry_id();
    FUZZ_CHECK(m.state() == v1::VETTING_STATE_ACTIVE);
    FUZZ_CHECK(seen.insert(m.entry_id()).second)
        << "entry " << m.entry_id() << " listed twice";
    const v1::SignalType lane = m.signal_type();
    if (lane == v1::SIGNAL_TYPE_VPDQ) {
      FUZZ_CHECK(it->second.signal_type() == v1::SIGNAL_TYPE_VPDQ);
      FUZZ_CHECK(m.video_frame() >= 0 &&
                 m.video_frame() < it->second.video_frames_size());
    } else {
      FUZZ_CHECK(it->second.signal_type() == lane) << lane;
    }
    const int pdq = options.has_pdq_threshold() ? options.pdq_threshold()
                                                : mo.pdq_threshold;
    switch (lane) {
      case v1::SIGNAL_TYPE_MD5:
      case v1::SIGNAL_TYPE_SHA256:
        FUZZ_CHECK(m.distance() == 0);
        break;
      case v1::SIGNAL_TYPE_PDQ:
      case v1::SIGNAL_TYPE_VPDQ:
        FUZZ_CHECK(m.distance() >= 0 && m.distance() <= pdq) << m.distance();
        break;
      case v1::SIGNAL_TYPE_PHASH:
        FUZZ_CHECK(m.distance() >= 0 &&
                   m.distance() <= (options.has_phash_threshold()
                                        ? options.phash_threshold()
                                        : mo.phash_threshold));
        break;
      case v1::SIGNAL_TYPE_DHASH:
        FUZZ_CHECK(m.distance() >= 0 &&
                   m.distance() <= (options.has_dhash_threshold()
                                        ? options.dhash_threshold()
                                        : mo.dhash_threshold));
        break;
      default:
        FUZZ_CHECK(false) << "lane " << lane;
    }
    if (i > 0) {
      const v1::EntryMatch& p = r.matches(i - 1);
      const auto key = [](const v1::EntryMatch& x) {
        return std::make_tuple(!IsExact(x.signal_type()), x.distance(),
                               x.entry_id());
      };
      FUZZ_CHECK(key(p) < key(m)) << "matches out of order at " << i;
    }
    const v1::DecisionRule rule = r.rule();
    if ((rule == v1::DECISION_RULE_EXACT_MD5 && lane == v1::SIGNAL_TYPE_MD5) ||
        (rule == v1::DECISION_RULE_EXACT_SHA256 &&
         lane == v1::SIGNAL_TYPE_SHA256) ||
        (rule == v1::DECISION_RULE_PDQ_THRESHOLD &&
         lane == v1::SIGNAL_TYPE_PDQ) ||
        (rule == v1::DECISION_RULE_PHASH_THRESHOLD &&
         lane == v1::SIGNAL_TYPE_PHASH) ||
        (rule == v1::DECISION_RULE_DHASH_THRESHOLD &&
         lane == v1::SIGNAL_TYPE_DHASH) ||
        (rule == v1::DECISION_RULE_VIDEO_FRAME &&
         lane == v1::SIGNAL_TYPE_VPDQ)) {
      lane_of_verdict = true;
    }
  }
  FUZZ_CHECK(lane_of_verdict || r.matches_truncated())
      << "MATCH by rule " << r.rule() << " lists no match of its lane";
}

void CheckVideoResponse(const Fixture& f, const v1::MatchVideoResponse& r,
                        const v1::MatchVideoHeader& header) {
  const VideoMatcherOptions& vo = f.matcher->video().options();
  FUZZ_CHECK(r.content_ref() == header.content_ref());
  CheckVerdict(r.verdict(), r.rule());
  FUZZ_CHECK(fuzz::NoControlBytes(r.rule_detail())) << r.rule_detail();
  const int max_matches = header.options().has_max_matches()
                              ? header.options().max_matches()
                              : vo.default_max_matches;
  FUZZ_CHECK(r.matches_size() <= max_matches) << r.matches_size();
  FUZZ_CHECK(r.query_frames_usable() <= r.query_frames());
  std::set<uint64_t> seen;
  for (const v1::VideoEntryMatch& m : r.matches()) {
    auto it = f.entries.find(m.entry_id());
    FUZZ_CHECK(it != f.entries.end()) << "unknown entry " << m.entry_id();
    FUZZ_CHECK(it->second.state() == v1::VETTING_STATE_ACTIVE);
    FUZZ_CHECK(seen.insert(m.entry_id()).second);
    FUZZ_CHECK(m.query_match_percent() >= 0 && m.query_match_percent() <= 100)
        << m.query_match_percent();
    FUZZ_CHECK(m.compared_match_percent() >= 0 &&
               m.compared_match_percent() <= 100)
        << m.compared_match_percent();
  }
}

void Run(Fixture& f, absl::string_view input) {
  if (input.empty()) return;
  const int selector = static_cast<uint8_t>(input[0]) % 5;
  const absl::string_view proto = input.substr(1);
  const auto parse = [&](google::protobuf::Message* m) {
    return m->ParseFromArray(proto.data(), static_cast<int>(proto.size()));
  };
  switch (selector) {
    case 0: {
      v1::MatchImageRequest req;
      if (!parse(&req)) return;
      absl::StatusOr<v1::MatchResponse> r = f.matcher->MatchImage(req);
      if (!r.ok()) return CheckError(r.status(), false);
      CheckResponse(f, *r, req.content_ref(), req.options());
      return;
    }
    case 1: {
      v1::MatchHashesRequest req;
      if (!parse(&req)) return;
      absl::StatusOr<v1::MatchResponse> r = f.matcher->MatchHashes(req);
      if (!r.ok()) return CheckError(r.status(), false);
      CheckResponse(f, *r, req.content_ref(), req.options());
      return;
    }
    case 2: {
      v1::MatchBatchRequest req;
      if (!parse(&req)) return;
      absl::StatusOr<v1::MatchBatchResponse> r = f.matcher->MatchBatch(req);
      if (!r.ok()) return CheckError(r.status(), false);
      FUZZ_CHECK(r->items_size() == req.images_size());
      for (int i = 0; i < r->items_size(); ++i) {
        const v1::MatchBatchItem& item = r->items(i);
        if (item.has_error()) {
          CheckError(
              absl::Status(static_cast<absl::StatusCode>(item.error().code()),
                           item.error().message()),
              false);
        } else {
          FUZZ_CHECK(item.has_response());
          CheckResponse(f, item.response(), req.images(i).content_ref(),
                        req.images(i).options());
        }
      }
      return;
    }
    case 3: {
      v1::MatchVideoHeader header;
      if (!parse(&header)) return;
      absl::StatusOr<v1::MatchVideoResponse> r =
          f.matcher->video().MatchFrames(header);
      if (!r.ok()) return CheckError(r.status(), true);
      CheckVideoResponse(f, *r, header);
      return;
    }
    default: {
      v1::MatchImageRequest req;
      if (!parse(&req)) return;
      v1::MatchVideoHeader header;
      header.set_content_ref(req.content_ref());
      absl::StatusOr<v1::MatchVideoResponse> r =
          f.matcher->video().MatchBytes(header, req.image());
      if (!r.ok()) return CheckError(r.status(), true);
      CheckVideoResponse(f, *r, header);
      return;
    }
  }
}

}  // namespace
}  // namespace hashmatch

namespace {
hashmatch::Fixture* fixture = nullptr;
}  // namespace

// The store and index are built before the first input (not timed by
// -timeout).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Invalid UTF-8 in string fields makes protobuf log each failed parse.
  google::protobuf::SetLogHandler(nullptr);
  fixture = hashmatch::MakeFixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hashmatch::Run(*fixture, hashmatch::fuzz::AsView(data, size));
  return 0;
}
