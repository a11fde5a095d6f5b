#include "src/eval/evaluation.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/common/status_macros.h"
#include "src/common/worker_pool.h"
#include "src/hashing/crypto_hash.h"
#include "src/hashing/pdq.h"

namespace hashmatch {
namespace eval {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 0;  // Not reached: the hasher writes the hex.
}

// 16, 32 or 64 hex digits into words (the order of words does not change
// Hamming distances).
Code CodeFromHex(absl::string_view hex) {
  Code c;
  for (size_t i = 0; i < hex.size() && i / 16 < c.w.size(); ++i) {
    c.w[i / 16] = (c.w[i / 16] << 4) | static_cast<uint64_t>(HexDigit(hex[i]));
  }
  return c;
}

Code CodeFromHash(const Hash256& h) { return CodeFromHex(h.ToHex()); }

}  // namespace

const std::vector<MethodSpec>& AllMethods() {
  static const auto* methods = new std::vector<MethodSpec>{
      {"pdq", Algorithm::kPdq, false, false, false, "PDQ, full resolution"},
      {"pdq-cli512", Algorithm::kPdqCli512, false, false, false,
       "PDQ after the reference tool's 512x512 squash"},
      {"pdq-fast", Algorithm::kPdqFast, false, false, false,
       "PDQ of a reduced JPEG decode"},
      {"phash", Algorithm::kPhash, false, false, false, "64-bit DCT hash"},
      {"dhash", Algorithm::kDhash, false, false, false, "64-bit gradient hash"},
      {"pdq+dihedral", Algorithm::kPdq, true, false, false,
       "PDQ, the query's 8 dihedral variants looked up"},
      {"pdq+trim", Algorithm::kPdq, false, true, false,
       "PDQ after trimming flat borders (entry and query)"},
      {"pdq+trim+dihedral", Algorithm::kPdq, true, true, false,
       "trimmed PDQ, dihedral variants looked up"},
      {"pdq+regions", Algorithm::kPdq, false, false, true,
       "PDQ, entries also indexed by 6 windows"},
      {"pdq&phash", Algorithm::kPdq, false, false, false,
       "PDQ, 16 bits looser where pHash is within 8", Vote::kPhashBonus, 16, 8},
      {"pdq&phash-k8", Algorithm::kPdq, false, false, false,
       "PDQ, 8 bits looser where pHash is within 8", Vote::kPhashBonus, 8, 8},
      {"pdq&phash-p4", Algorithm::kPdq, false, false, false,
       "PDQ, 16 bits looser where pHash is within 4", Vote::kPhashBonus, 16, 4},
      {"pdq+trim&phash", Algorithm::kPdq, false, true, false,
       "trimmed PDQ, 16 bits looser where pHash is within 8", Vote::kPhashBonus,
       16, 8},
      {"pdq+dihedral&phash", Algorithm::kPdq, true, false, false,
       "dihedral PDQ, 16 bits looser where pHash is within 8",
       Vote::kPhashBonus, 16, 8},
      {"pdq+trim+dihedral&phash", Algorithm::kPdq, true, true, false,
       "trimmed dihedral PDQ, 16 bits looser where pHash is within 8",
       Vote::kPhashBonus, 16, 8},
      {"pdq+phash-mean", Algorithm::kPdq, false, false, false,
       "(PDQ + 4 x pHash distance) / 2", Vote::kPhashSum},
  };
  return *methods;
}

absl::StatusOr<std::vector<const MethodSpec*>> ParseMethodList(
    absl::string_view names) {
  std::vector<const MethodSpec*> out;
  if (names == "all") {
    for (const MethodSpec& m : AllMethods()) out.push_back(&m);
    return out;
  }
  for (absl::string_view name : absl::StrSplit(names, ',')) {
    const MethodSpec* found = nullptr;
    std::vector<std::string> valid;
    for (const MethodSpec& m : AllMethods()) {
      if (name == m.name) found = &m;
      valid.emplace_back(m.name);
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown hasher '", name, "'; valid: all, ",
                       absl::StrJoin(valid, ",")));
    }
    if (std::find(out.begin(), out.end(), found) == out.end()) {
      out.push_back(found);
    }
  }
  return out;
}

int MethodBits(const MethodSpec& m) { return AlgorithmBits(m.algorithm); }

int DefaultThreshold(const MethodSpec& m) {
  return IsPdq(m.algorithm) ? kPdqDefaultThreshold : 10;
}

bool IsVettedPicture(absl::string_view md5_hex) {
  return (static_cast<uint8_t>(Sha256(absl::StrCat(kSplitSeed, md5_hex))[0]) &
          1) == 0;
}

std::map<std::string, bool> SplitGroups(
    const std::vector<ManifestEntry>& manifest) {
  std::map<std::string, std::string> smallest;  // Group -> smallest MD5.
  for (const ManifestEntry& e : manifest) {
    auto [it, added] = smallest.emplace(e.group, e.md5);
    if (!added && e.md5 < it->second) it->second = e.md5;
  }
  std::map<std::string, bool> vetted;
  for (const auto& [group, md5] : smallest) {
    vetted[group] = IsVettedPicture(md5);
  }
  return vetted;
}

int SetDistance(const std::vector<Code>& query,
                const std::vector<Code>& entry) {
  int best = kNoDistance;
  for (const Code& q : query) {
    for (const Code& e : entry) best = std::min(best, CodeDistance(q, e));
  }
  return best;
}

int VoteScore(const MethodSpec& m, int pdq_distance, int phash_distance) {
  if (pdq_distance >= kNoDistance) return kNoDistance;
  switch (m.vote) {
    case Vote::kNone:
      return pdq_distance;
    case Vote::kPhashBonus:
      if (phash_distance > m.vote_max) return pdq_distance;
      return std::max(0, pdq_distance - m.bonus);
    case Vote::kPhashSum:
      if (phash_distance >= kNoDistance) return kNoDistance;
      return (pdq_distance + 4 * phash_distance) / 2;
  }
  return pdq_distance;
}

int MethodDistance(const MethodSpec& m, const ImageCodes& query,
                   const ImageCodes& entry, bool gated) {
  const int d =
      SetDistance(gated ? query.query : query.query_ungated, entry.entry);
  if (m.vote == Vote::kNone) return d;
  return VoteScore(m, d, SetDistance(query.vote, entry.vote));
}

absl::StatusOr<std::vector<ImageCodes>> HashImage(
    ImageHasher& hasher, absl::string_view bytes,
    const std::vector<const MethodSpec*>& methods, const EvalOptions& options,
    bool as_entry) {
  std::vector<Algorithm> algos;
  bool dihedral = false, trim = false, regions = false;
  for (const MethodSpec* m : methods) {
    if (m->vote != Vote::kNone && std::find(algos.begin(), algos.end(),
                                            Algorithm::kPhash) == algos.end()) {
      algos.push_back(Algorithm::kPhash);
    }
    if (m->trim) {
      trim = true;
      continue;
    }
    if (m->regions) {
      regions = as_entry;
      if (!as_entry) continue;  // The query's one hash: the plain one.
    }
    if (std::find(algos.begin(), algos.end(), m->algorithm) == algos.end()) {
      algos.push_back(m->algorithm);
    }
    dihedral |= m->dihedral;
  }
  ImageHashes plain;
  if (!algos.empty()) {
    HashOptions hash_options;
    hash_options.decode = options.decode;
    hash_options.dihedral = dihedral;
    ASSIGN_OR_RETURN(plain, hasher.HashBytes(bytes, algos, hash_options));
  }
  std::optional<DecodedImage> image;
  PdqDihedralHashes full, trimmed;
  bool has_trimmed = false;
  if (trim || regions) {
    ASSIGN_OR_RETURN(image, DecodeImage(bytes, options.decode));
  }
  std::vector<Hash256> windows;
  if (regions) {
    const int w = image->pixels.cols, h = image->pixels.rows;
    for (const RegionWindow& r : kRegions) {
      const cv::Rect rect(static_cast<int>(std::lround(r.x * w)),
                          static_cast<int>(std::lround(r.y * h)),
                          std::max(1, static_cast<int>(std::lround(r.w * w))),
                          std::max(1, static_cast<int>(std::lround(r.h * h))));
      const cv::Mat roi = image->pixels(rect & cv::Rect(0, 0, w, h));
      windows.push_back(
          hasher.HashPdq(ViewOfMat(roi), Algorithm::kPdq, false).hashes[0]);
    }
  }
  if (trim) {
    full = hasher.HashPdq(image->view(), Algorithm::kPdq, true);
    const cv::Rect keep = FindContentRect(image->pixels, options.trim);
    if (keep != cv::Rect(0, 0, image->pixels.cols, image->pixels.rows)) {
      const cv::Mat roi = image->pixels(keep);
      trimmed = hasher.HashPdq(ViewOfMat(roi), Algorithm::kPdq, true);
      has_trimmed = true;
    }
  }
  const int gate = options.pdq_quality_gate;
  std::vector<ImageCodes> out(methods.size());
  for (size_t k = 0; k < methods.size(); ++k) {
    const MethodSpec& m = *methods[k];
    ImageCodes& c = out[k];
    if (m.vote != Vote::kNone) {
      const size_t p = static_cast<size_t>(
          std::find(algos.begin(), algos.end(), Algorithm::kPhash) -
          algos.begin());
      c.vote.push_back(CodeFromHex(plain.results[p].hex));
    }
    // Adds one PDQ hash set (whole or trimmed) to the entry and the queries.
    auto add_pdq = [&](const std::array<Hash256, kNumDihedral>& hashes,
                       int quality) {
      c.entry.push_back(CodeFromHash(hashes[0]));
      std::vector<Code> q;
      for (int v = 0; v < (m.dihedral ? kNumDihedral : 1); ++v) {
        q.push_back(CodeFromHash(hashes[v]));
      }
      c.query_ungated.insert(c.query_ungated.end(), q.begin(), q.end());
      if (quality >= gate) c.query.insert(c.query.end(), q.begin(), q.end());
    };
    if (m.trim) {
      c.quality = full.quality;
      add_pdq(full.hashes, full.quality);
      if (has_trimmed) add_pdq(trimmed.hashes, trimmed.quality);
      continue;
    }
    if (m.regions && !as_entry) {
      // The plain PDQ hash, from the pdq result when hashed, else decoded.
      const auto it = std::find(algos.begin(), algos.end(), Algorithm::kPdq);
      if (it == algos.end()) {
        ASSIGN_OR_RETURN(DecodedImage img, DecodeImage(bytes, options.decode));
        PdqDihedralHashes h =
            hasher.HashPdq(img.view(), Algorithm::kPdq, false);
        add_pdq(h.hashes, h.quality);
        c.quality = h.quality;
        continue;
      }
    }
    const size_t a = static_cast<size_t>(
        std::find(algos.begin(), algos.end(), m.algorithm) - algos.begin());
    const HashResult& r = plain.results[a];
    if (r.quality.has_value()) {
      std::array<Hash256, kNumDihedral> hashes;
      for (int v = 0; v < kNumDihedral; ++v) {
        const std::string& hex =
            r.dihedral_hex.empty() ? r.hex : r.dihedral_hex[v];
        ASSIGN_OR_RETURN(hashes[v], Hash256::FromHex(hex));
      }
      c.quality = *r.quality;
      add_pdq(hashes, *r.quality);
      if (m.regions && as_entry) {
        for (const Hash256& h : windows) c.entry.push_back(CodeFromHash(h));
      }
    } else {
      c.entry.push_back(CodeFromHex(r.hex));
      c.query = c.entry;
      c.query_ungated = c.entry;
    }
  }
  return out;
}

absl::StatusOr<CorpusCodes> HashCorpus(
    const std::vector<ManifestEntry>& manifest_in, const EvalOptions& options) {
  if (options.methods.empty()) {
    return absl::InvalidArgumentError("no hasher selected");
  }
  if (options.transforms.empty()) {
    return absl::InvalidArgumentError("no transform selected");
  }
  if (options.threads < 1) {
    return absl::InvalidArgumentError("threads must be at least 1");
  }
  if (options.max_side < 16) {
    return absl::InvalidArgumentError("max_side must be at least 16");
  }
  // Sides from the whole manifest, so that a --limit sample keeps them.
  const std::map<std::string, bool> split = SplitGroups(manifest_in);
  std::vector<ManifestEntry> manifest = manifest_in;
  if (options.limit > 0 &&
      options.limit < static_cast<int64_t>(manifest.size())) {
    std::vector<std::pair<std::pair<std::string, std::string>, size_t>> keyed;
    for (size_t i = 0; i < manifest.size(); ++i) {
      keyed.push_back({{manifest[i].md5, manifest[i].path}, i});
    }
    std::sort(keyed.begin(), keyed.end());
    std::vector<ManifestEntry> sample;
    for (int64_t i = 0; i < options.limit; ++i) {
      sample.push_back(manifest[keyed[i].second]);
    }
    std::sort(sample.begin(), sample.end(),
              [](const ManifestEntry& a, const ManifestEntry& b) {
                return a.path < b.path;
              });
    manifest = std::move(sample);
  }

  const size_t n = manifest.size();
  const size_t nm = options.methods.size();
  const size_t nt = options.transforms.size();
  CorpusCodes out;
  out.originals.resize(n);
  out.original.assign(nm, std::vector<ImageCodes>(n));
  out.query.assign(nm, std::vector<std::vector<std::optional<ImageCodes>>>(
                           nt, std::vector<std::optional<ImageCodes>>(n)));
  std::mutex mu;
  absl::Status fatal;  // GUARDED_BY(mu)
  int64_t done = 0;    // GUARDED_BY(mu)
  const Clock::time_point start = Clock::now();

  auto process = [&](size_t i) {
    const ManifestEntry& e = manifest[i];
    OriginalInfo& info = out.originals[i];
    info.path = e.path;
    info.group = e.group;
    info.package = e.package;
    info.vetted = split.at(e.group);
    std::vector<std::string> failures;
    auto finish = [&](const absl::Status& status) {
      std::lock_guard<std::mutex> lock(mu);
      if (!status.ok() && fatal.ok()) fatal = status;
      for (std::string& f : failures) out.failures.push_back(std::move(f));
      ++done;
      if (options.progress) options.progress(done, static_cast<int64_t>(n));
    };
    absl::StatusOr<std::string> bytes = ReadVerified(e);
    if (!bytes.ok()) {
      finish(bytes.status());
      return;
    }
    absl::StatusOr<DecodedImage> decoded = DecodeImage(*bytes, options.decode);
    if (!decoded.ok()) {
      failures.push_back(
          absl::StrCat(e.path, ": ", decoded.status().message()));
      finish(absl::OkStatus());
      return;
    }
    cv::Mat pixels = decoded->pixels;
    std::string original_bytes = *std::move(bytes);
    const int longer = std::max(pixels.cols, pixels.rows);
    if (longer > options.max_side) {
      const double s = static_cast<double>(options.max_side) / longer;
      cv::Mat small;
      try {
        cv::resize(
            pixels, small,
            cv::Size(
                std::max(1, static_cast<int>(std::lround(pixels.cols * s))),
                std::max(1, static_cast<int>(std::lround(pixels.rows * s)))),
            0, 0, cv::INTER_AREA);
      } catch (const cv::Exception& ex) {
        failures.push_back(absl::StrCat(e.path, ": resize failed"));
        finish(absl::OkStatus());
        return;
      }
      pixels = small;
      absl::StatusOr<std::string> png = EncodePng(pixels);
      if (!png.ok()) {
        failures.push_back(absl::StrCat(e.path, ": ", png.status().message()));
        finish(absl::OkStatus());
        return;
      }
      original_bytes = *std::move(png);
    }
    info.width = pixels.cols;
    info.height = pixels.rows;
    ImageHasher hasher;
    absl::StatusOr<std::vector<ImageCodes>> codes =
        HashImage(hasher, original_bytes, options.methods, options,
                  /*as_entry=*/true);
    if (!codes.ok()) {
      failures.push_back(absl::StrCat(e.path, ": ", codes.status().message()));
      finish(absl::OkStatus());
      return;
    }
    for (size_t m = 0; m < nm; ++m) out.original[m][i] = (*codes)[m];
    info.ok = true;
    for (size_t t = 0; t < nt; ++t) {
      const TransformSpec& spec = *options.transforms[t];
      absl::StatusOr<TransformedImage> q = ApplyTransform(
          spec, pixels, TransformSeed(e.md5, spec.name, options.seed));
      absl::StatusOr<std::vector<ImageCodes>> qc =
          q.ok() ? HashImage(hasher, q->bytes, options.methods, options,
                             /*as_entry=*/false)
                 : absl::StatusOr<std::vector<ImageCodes>>(q.status());
      if (!qc.ok()) {
        failures.push_back(
            absl::StrCat(e.path, ": ", spec.name, ": ", qc.status().message()));
        continue;
      }
      for (size_t m = 0; m < nm; ++m) {
        out.query[m][t][i] = std::move((*qc)[m]);
      }
    }
    finish(absl::OkStatus());
  };
  {
    WorkerPool pool(options.threads);
    for (size_t i = 0; i < n; ++i) pool.Submit([&process, i] { process(i); });
  }
  RETURN_IF_ERROR(fatal);
  std::sort(out.failures.begin(), out.failures.end());
  out.seconds = SecondsSince(start);
  return out;
}

AccuracyResult ScoreCorpus(const CorpusCodes& codes,
                           const EvalOptions& options) {
  const Clock::time_point start = Clock::now();
  AccuracyResult result;
  result.failures = codes.failures;
  result.target_precision = options.target_precision;
  result.pdq_quality_gate = options.pdq_quality_gate;
  result.max_side = options.max_side;
  result.seed = options.seed;
  result.hash_seconds = codes.seconds;
  for (const TransformSpec* t : options.transforms) {
    result.transforms.emplace_back(t->name);
  }
  const size_t n = codes.originals.size();
  std::map<std::string, int> group_ids;
  std::vector<int> group(n, -1);
  std::vector<size_t> vetted;
  for (size_t i = 0; i < n; ++i) {
    const OriginalInfo& o = codes.originals[i];
    if (!o.ok) continue;
    group[i] = group_ids.emplace(o.group, static_cast<int>(group_ids.size()))
                   .first->second;
    ++result.originals;
    if (o.vetted) {
      ++result.vetted;
      vetted.push_back(i);
    } else {
      ++result.innocent;
    }
  }
  result.groups = static_cast<int64_t>(group_ids.size());

  // (method index, gated) in report order: each method, then its ungated
  // twin when asked for.
  std::vector<std::pair<size_t, bool>> scored;
  for (size_t m = 0; m < options.methods.size(); ++m) {
    scored.emplace_back(m, true);
  }
  for (size_t m = 0; m < options.methods.size(); ++m) {
    const MethodSpec& spec = *options.methods[m];
    if (IsPdq(spec.algorithm) && options.pdq_quality_gate > 0 &&
        std::find(options.ungated_methods.begin(),
                  options.ungated_methods.end(),
                  spec.name) != options.ungated_methods.end()) {
      scored.emplace_back(m, false);
    }
  }
  for (const auto& [m, gated] : scored) {
    const MethodSpec& spec = *options.methods[m];
    MethodScore score;
    score.method =
        gated ? std::string(spec.name) : absl::StrCat(spec.name, " (no gate)");
    score.bits = MethodBits(spec);
    score.default_threshold = DefaultThreshold(spec);
    score.all.transform = "all";
    score.all.distances.bits = score.bits;
    std::map<std::string, DistanceSet> by_package;
    for (size_t t = 0; t < options.transforms.size(); ++t) {
      TransformScore ts;
      ts.transform = options.transforms[t]->name;
      ts.distances.bits = score.bits;
      for (size_t i = 0; i < n; ++i) {
        if (group[i] < 0 || !codes.query[m][t][i].has_value()) continue;
        const ImageCodes& q = *codes.query[m][t][i];
        QueryDistances d;
        for (size_t j : vetted) {
          const int dist = MethodDistance(spec, q, codes.original[m][j], gated);
          if (group[j] == group[i]) {
            d.own = std::min(d.own, dist);
          } else {
            d.other = std::min(d.other, dist);
          }
        }
        DistanceSet& package = by_package[codes.originals[i].package];
        package.bits = score.bits;
        if (codes.originals[i].vetted) {
          ts.distances.positives.push_back(d);
          package.positives.push_back(d);
        } else {
          ts.distances.negatives.push_back(std::min(d.own, d.other));
          package.negatives.push_back(std::min(d.own, d.other));
        }
      }
      score.all.distances.positives.insert(score.all.distances.positives.end(),
                                           ts.distances.positives.begin(),
                                           ts.distances.positives.end());
      score.all.distances.negatives.insert(score.all.distances.negatives.end(),
                                           ts.distances.negatives.begin(),
                                           ts.distances.negatives.end());
      ts.at_target = PointAtPrecision(ts.distances, options.target_precision);
      ts.at_default = PointAt(ts.distances, score.default_threshold);
      score.transforms.push_back(std::move(ts));
    }
    for (size_t a = 0; a < n; ++a) {
      if (group[a] < 0) continue;
      for (size_t b = a + 1; b < n; ++b) {
        if (group[b] < 0 || group[b] == group[a]) continue;
        score.all.distances.pairs.push_back(MethodDistance(
            spec, codes.original[m][a], codes.original[m][b], gated));
      }
    }
    score.all.at_target =
        PointAtPrecision(score.all.distances, options.target_precision);
    score.all.at_default =
        PointAt(score.all.distances, score.default_threshold);
    score.all.at_pooled = score.all.at_target;
    for (TransformScore& ts : score.transforms) {
      ts.at_pooled = PointAt(ts.distances, score.all.at_target.threshold);
    }
    for (auto& [name, set] : by_package) {
      TransformScore ps;
      ps.transform = name;
      ps.distances = std::move(set);
      ps.at_target = PointAtPrecision(ps.distances, options.target_precision);
      ps.at_default = PointAt(ps.distances, score.default_threshold);
      ps.at_pooled = PointAt(ps.distances, score.all.at_target.threshold);
      score.packages.push_back(std::move(ps));
    }
    result.methods.push_back(std::move(score));
  }
  result.search_seconds = SecondsSince(start);
  return result;
}

absl::StatusOr<AccuracyResult> RunAccuracy(
    const std::vector<ManifestEntry>& manifest, const EvalOptions& options) {
  ASSIGN_OR_RETURN(CorpusCodes codes, HashCorpus(manifest, options));
  return ScoreCorpus(codes, options);
}

}  // namespace eval
}  // namespace hashmatch
