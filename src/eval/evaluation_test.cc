#include "src/eval/evaluation.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "gtest/gtest.h"
#include "src/common/file_util.h"
#include "src/eval/test_corpus.h"
#include "src/hashing/bit_hash.h"

namespace hashmatch {
namespace eval {
namespace {

using testing_util::FreshDir;
using testing_util::WriteSyntheticCorpus;

EvalOptions Options(const std::string& methods, const std::string& transforms) {
  EvalOptions o;
  o.methods = *ParseMethodList(methods);
  o.transforms = *ParseTransformList(transforms);
  o.threads = 2;
  return o;
}

const TransformScore& ScoreOf(const MethodScore& m, const std::string& t) {
  for (const TransformScore& s : m.transforms) {
    if (s.transform == t) return s;
  }
  ADD_FAILURE() << "no transform " << t;
  return m.all;
}

// 6 generated photos, 3 vetted: identity copies are found at distance 0 by
// every hasher, and the counts of queries and pairs are the protocol's.
TEST(EvaluationTest, IdentityRecallIsOneAndCountsAreExact) {
  const std::string dir = FreshDir("eval_identity");
  std::vector<ManifestEntry> manifest = WriteSyntheticCorpus(dir, 6, 3);
  // Two packages: the first vetted and the first innocent photo in "pkg-a".
  manifest[0].package = "pkg-a";
  manifest[3].package = "pkg-a";
  absl::StatusOr<AccuracyResult> r = RunAccuracy(
      manifest, Options("pdq,pdq-cli512,pdq-fast,phash,dhash,pdq+dihedral",
                        "identity,jpeg50,rotate90"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->originals, 6);
  EXPECT_EQ(r->vetted, 3);
  EXPECT_EQ(r->innocent, 3);
  EXPECT_EQ(r->groups, 6);
  EXPECT_TRUE(r->failures.empty());
  ASSERT_EQ(r->methods.size(), 7u);  // And "pdq (no gate)".
  EXPECT_EQ(r->methods[6].method, "pdq (no gate)");
  for (const MethodScore& m : r->methods) {
    SCOPED_TRACE(m.method);
    const TransformScore& id = ScoreOf(m, "identity");
    ASSERT_EQ(id.distances.positives.size(), 3u);
    ASSERT_EQ(id.distances.negatives.size(), 3u);
    for (const QueryDistances& q : id.distances.positives) {
      EXPECT_EQ(q.own, 0);
      EXPECT_GT(q.other, 0);
    }
    EXPECT_DOUBLE_EQ(id.at_default.recall, 1.0);
    EXPECT_GE(id.at_target.threshold, 0);
    EXPECT_DOUBLE_EQ(id.at_target.recall, 1.0);
    // Pooled: 3 transforms x 3 positives, 3 x 3 negatives, C(6,2) pairs.
    EXPECT_EQ(m.all.distances.positives.size(), 9u);
    EXPECT_EQ(m.all.distances.negatives.size(), 9u);
    EXPECT_EQ(m.all.distances.pairs.size(), 15u);
    EXPECT_EQ(m.all.at_default.positives, 9);
    EXPECT_EQ(m.all.at_default.pairs, 15);
    // Per package, sorted by name: "-" has 2 vetted and 2 innocent photos.
    ASSERT_EQ(m.packages.size(), 2u);
    EXPECT_EQ(m.packages[0].transform, "-");
    EXPECT_EQ(m.packages[0].distances.positives.size(), 6u);
    EXPECT_EQ(m.packages[0].distances.negatives.size(), 6u);
    EXPECT_EQ(m.packages[1].transform, "pkg-a");
    EXPECT_EQ(m.packages[1].distances.positives.size(), 3u);
    EXPECT_EQ(m.packages[1].at_pooled.threshold, m.all.at_target.threshold);
    EXPECT_EQ(m.packages[0].at_pooled.tp + m.packages[1].at_pooled.tp,
              m.all.at_target.tp);
  }
  // Dihedral lookup finds the 90-degree rotation; plain PDQ is far from it.
  const TransformScore& rot = ScoreOf(r->methods[5], "rotate90");
  const TransformScore& rot_plain = ScoreOf(r->methods[0], "rotate90");
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_LE(rot.distances.positives[i].own, 31);
    EXPECT_GT(rot_plain.distances.positives[i].own, 31);
  }
}

// The distance the evaluation records for a query equals the distance of the
// hasher's own hex hashes of the same two files.
TEST(EvaluationTest, KnownPairDistanceEqualsTheHashersDistance) {
  const std::string dir = FreshDir("eval_pair");
  const std::vector<ManifestEntry> manifest = WriteSyntheticCorpus(dir, 2, 1);
  EvalOptions options = Options("pdq,phash,dhash", "jpeg30,crop10");
  absl::StatusOr<CorpusCodes> codes = HashCorpus(manifest, options);
  ASSERT_TRUE(codes.ok()) << codes.status();
  ImageHasher hasher;
  int total = 0;
  for (size_t i = 0; i < manifest.size(); ++i) {
    const std::string original = *ReadFileToString(manifest[i].path, 1 << 24);
    // The corpus keeps the path order of the manifest it was given, sorted.
    size_t ci = 0;
    while (codes->originals[ci].path != manifest[i].path) ++ci;
    cv::Mat pixels = DecodeImage(original, {})->pixels;
    for (size_t t = 0; t < options.transforms.size(); ++t) {
      const TransformSpec& spec = *options.transforms[t];
      const TransformedImage q = *ApplyTransform(
          spec, pixels, TransformSeed(manifest[i].md5, spec.name, 1));
      for (size_t m = 0; m < options.methods.size(); ++m) {
        const Algorithm a = options.methods[m]->algorithm;
        const std::string ho =
            hasher.HashBytes(original, {a}, {})->results[0].hex;
        const std::string hq =
            hasher.HashBytes(q.bytes, {a}, {})->results[0].hex;
        int expected;
        if (a == Algorithm::kPdq) {
          expected =
              HammingDistance(*Hash256::FromHex(ho), *Hash256::FromHex(hq));
        } else {
          expected =
              HammingDistance(*Hash64::FromHex(ho), *Hash64::FromHex(hq));
        }
        const int got = SetDistance(codes->query[m][t][ci]->query,
                                    codes->original[m][ci].entry);
        EXPECT_EQ(got, expected)
            << spec.name << " " << options.methods[m]->name;
        total += got;
      }
    }
  }
  EXPECT_GT(total, 0);  // Lossy transforms change some hashes.
  // And the score of the vetted one's query is that distance.
  const AccuracyResult r = ScoreCorpus(*codes, options);
  size_t vi = codes->originals[0].vetted ? 0 : 1;
  EXPECT_EQ(
      r.methods[0].transforms[0].distances.positives[0].own,
      SetDistance(codes->query[0][0][vi]->query, codes->original[0][vi].entry));
}

// The split is by content (issue 20): the same pictures under other names,
// in another directory and order, with groups named after the new paths (as
// BuildManifest names them), fall on the same sides and get the same
// transforms.
TEST(EvaluationTest, SplitAndTransformsDependOnPicturesNotPaths) {
  const std::string dir = FreshDir("eval_split");
  const std::vector<ManifestEntry> manifest = WriteSyntheticCorpus(dir, 4, 2);
  const std::string moved_dir = FreshDir("eval_split_moved");
  std::vector<ManifestEntry> moved;
  for (size_t i = 0; i < manifest.size(); ++i) {
    ManifestEntry e = manifest[i];
    e.path = absl::StrCat(moved_dir, "/renamed-", 9 - i, ".png");
    std::filesystem::copy_file(manifest[i].path, e.path);
    e.group = e.path;
    moved.push_back(e);
  }
  const EvalOptions options = Options("pdq", "crop10,rotate4");
  absl::StatusOr<CorpusCodes> a = HashCorpus(manifest, options);
  absl::StatusOr<CorpusCodes> b = HashCorpus(moved, options);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->originals.size(), 4u);
  ASSERT_EQ(b->originals.size(), 4u);
  int vetted = 0;
  for (size_t i = 0; i < 4; ++i) {
    // Originals come back in path order: find i's picture among b's.
    const std::string& path = a->originals[i].path;
    size_t k = 0;
    while (k < 4 && manifest[k].path != path) ++k;
    ASSERT_LT(k, 4u);
    size_t j = 0;
    while (j < 4 && b->originals[j].path != moved[k].path) ++j;
    ASSERT_LT(j, 4u);
    SCOPED_TRACE(path);
    EXPECT_EQ(a->originals[i].vetted, b->originals[j].vetted);
    EXPECT_EQ(a->originals[i].vetted, k < 2);  // As WriteSyntheticCorpus chose.
    vetted += a->originals[i].vetted;
    for (size_t t = 0; t < 2; ++t) {
      EXPECT_EQ(a->query[0][t][i]->query, b->query[0][t][j]->query);
    }
  }
  EXPECT_EQ(vetted, 2);
}

// A group's side is that of its smallest MD5, whatever the entries' order;
// the seeded hash halves pictures about evenly; and its values are pinned
// (a change of kSplitSeed would silently change every published figure).
TEST(EvaluationTest, SplitGroupsBySmallestMd5) {
  std::string on_side[2];
  for (int i = 0; on_side[0].empty() || on_side[1].empty(); ++i) {
    const std::string md5 = Md5Hex(absl::StrCat(i));
    on_side[IsVettedPicture(md5) ? 1 : 0] = md5;
  }
  const bool smaller_vetted = IsVettedPicture(std::min(on_side[0], on_side[1]));
  std::vector<ManifestEntry> m = {{on_side[0], 1, "g", "-", "/a"},
                                  {on_side[1], 1, "g", "-", "/b"},
                                  {on_side[1], 1, "h", "-", "/c"}};
  std::map<std::string, bool> split = SplitGroups(m);
  EXPECT_EQ(split,
            (std::map<std::string, bool>{{"g", smaller_vetted}, {"h", true}}));
  std::reverse(m.begin(), m.end());
  EXPECT_EQ(SplitGroups(m), split);

  int vetted = 0;
  for (int i = 0; i < 1000; ++i)
    vetted += IsVettedPicture(Md5Hex(absl::StrCat(i)));
  EXPECT_GT(vetted, 450);
  EXPECT_LT(vetted, 550);
  // MD5s of the first files of docs/accuracy/manifest.tsv (first byte of
  // SHA-256 "hashmatch eval split v2|<md5>": 5d, 8b, 98, f9).
  EXPECT_EQ(IsVettedPicture("97066e0a8baf4cd0be9859f9825aa3a2"), false);
  EXPECT_EQ(IsVettedPicture("b4177b840b8d017fd04c0fe8c9dafc61"), false);
  EXPECT_EQ(IsVettedPicture("1385d14b1ef77a6b8ea8a3946e386c08"), true);
  EXPECT_EQ(IsVettedPicture("f8b13d2cdd5ba56cf4ba2321bb7222f0"), false);
}

TEST(EvaluationTest, ManifestMismatchStopsTheRun) {
  const std::string dir = FreshDir("eval_mismatch");
  std::vector<ManifestEntry> manifest = WriteSyntheticCorpus(dir, 2, 1);
  manifest[1].md5 = "0123456789abcdef0123456789abcdef";
  absl::StatusOr<AccuracyResult> r =
      RunAccuracy(manifest, Options("pdq", "identity"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("md5 mismatch"), std::string::npos);
}

TEST(EvaluationTest, UndecodableOriginalIsSkippedAndListed) {
  const std::string dir = FreshDir("eval_bad");
  std::vector<ManifestEntry> manifest = WriteSyntheticCorpus(dir, 2, 1);
  const std::string junk = "not an image at all";
  {
    FILE* f = fopen((dir + "/junk.png").c_str(), "wb");
    fwrite(junk.data(), 1, junk.size(), f);
    fclose(f);
  }
  manifest.push_back({Md5Hex(junk), static_cast<int64_t>(junk.size()), "junk",
                      "-", dir + "/junk.png"});
  absl::StatusOr<AccuracyResult> r =
      RunAccuracy(manifest, Options("pdq", "identity"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->originals, 2);
  ASSERT_EQ(r->failures.size(), 1u);
  EXPECT_NE(r->failures[0].find("junk.png"), std::string::npos);
}

TEST(EvaluationTest, OptionsAndNamesAreChecked) {
  EXPECT_FALSE(ParseMethodList("pdq,md5").ok());
  EXPECT_EQ(ParseMethodList("all")->size(), AllMethods().size());
  EvalOptions o = Options("pdq", "identity");
  o.threads = 0;
  EXPECT_EQ(HashCorpus({}, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DefaultThreshold(*(*ParseMethodList("pdq-fast"))[0]), 31);
  EXPECT_EQ(DefaultThreshold(*(*ParseMethodList("dhash"))[0]), 10);
  EXPECT_EQ(MethodBits(*(*ParseMethodList("phash"))[0]), 64);
}

}  // namespace
}  // namespace eval
}  // namespace hashmatch

namespace hashmatch {
namespace eval {
namespace {

// A flat photo has PDQ quality 0: its copies are never matched by PDQ (the
// service's quality gate), but still counted as missed positives; the 64-bit
// hashes have no gate.
TEST(EvaluationTest, LowQualityPdqQueriesMatchNothing) {
  const std::string dir = FreshDir("eval_gate");
  std::vector<ManifestEntry> manifest = WriteSyntheticCorpus(dir, 2, 1);
  // A flat colour whose PNG falls in the vetted half (the split is by
  // content).
  const std::string path = dir + "/flat.png";
  std::string bytes;
  for (int k = 0; k < 256; ++k) {
    cv::imwrite(path, cv::Mat(180, 240, CV_8UC3, cv::Scalar(90, 120, k)));
    bytes = *ReadFileToString(path, 1 << 20);
    if (IsVettedPicture(Md5Hex(bytes))) break;
  }
  ASSERT_TRUE(IsVettedPicture(Md5Hex(bytes)));
  manifest.push_back(
      {Md5Hex(bytes), static_cast<int64_t>(bytes.size()), "flat", "-", path});
  absl::StatusOr<AccuracyResult> r =
      RunAccuracy(manifest, Options("pdq,phash", "identity"));
  ASSERT_TRUE(r.ok()) << r.status();
  const TransformScore& pdq = r->methods[0].transforms[0];
  const TransformScore& phash = r->methods[1].transforms[0];
  ASSERT_EQ(pdq.distances.positives.size(), 2u);
  EXPECT_DOUBLE_EQ(pdq.at_default.recall, 0.5);
  EXPECT_DOUBLE_EQ(phash.at_default.recall, 1.0);
  int gated = 0;
  for (const QueryDistances& q : pdq.distances.positives) {
    gated += q.own == kNoDistance;
  }
  EXPECT_EQ(gated, 1);
  // Scored with the gate off (the default twin of pdq), PDQ finds it too.
  ASSERT_EQ(r->methods.size(), 3u);
  EXPECT_EQ(r->methods[2].method, "pdq (no gate)");
  EXPECT_DOUBLE_EQ(r->methods[2].transforms[0].at_default.recall, 1.0);
  EvalOptions no_gate = Options("pdq", "identity");
  no_gate.pdq_quality_gate = 0;
  r = RunAccuracy(manifest, no_gate);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->methods.size(), 1u);
  EXPECT_DOUBLE_EQ(r->methods[0].transforms[0].at_default.recall, 1.0);
}

}  // namespace
}  // namespace eval
}  // namespace hashmatch

namespace hashmatch {
namespace eval {
namespace {

// Trimming adds the content rectangle's hash to the whole image's: never
// farther than plain PDQ, and nearer on padded copies.
TEST(EvaluationTest, TrimNeverLosesAndFindsPads) {
  const std::string dir = FreshDir("eval_trim");
  const std::vector<ManifestEntry> manifest = WriteSyntheticCorpus(dir, 4, 3);
  absl::StatusOr<AccuracyResult> r = RunAccuracy(
      manifest, Options("pdq,pdq+trim", "pad20_solid,pad20_blur,jpeg50"));
  ASSERT_TRUE(r.ok()) << r.status();
  int plain_sum = 0, trim_sum = 0;
  for (size_t t = 0; t < 3; ++t) {
    const DistanceSet& plain = r->methods[0].transforms[t].distances;
    const DistanceSet& trim = r->methods[1].transforms[t].distances;
    ASSERT_EQ(plain.positives.size(), 3u);
    ASSERT_EQ(trim.positives.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_LE(trim.positives[i].own, plain.positives[i].own);
      if (t < 2) {
        plain_sum += plain.positives[i].own;
        trim_sum += trim.positives[i].own;
        // Solid pads are found within the default threshold; blurred ones
        // (the border is harder to delimit) at least get nearer.
        if (t == 0) {
          EXPECT_LE(trim.positives[i].own, 31) << i;
        } else {
          EXPECT_LT(trim.positives[i].own, plain.positives[i].own) << i;
        }
      }
    }
  }
  EXPECT_LT(trim_sum, plain_sum);
}

}  // namespace
}  // namespace eval
}  // namespace hashmatch

namespace hashmatch {
namespace eval {
namespace {

// Region hashes: an entry carries its whole-image hash and 6 windows, a query
// one hash; crops come nearer, nothing gets farther than plain PDQ.
TEST(EvaluationTest, RegionsIndexWindowsOfEntries) {
  const std::string dir = FreshDir("eval_regions");
  const std::vector<ManifestEntry> manifest = WriteSyntheticCorpus(dir, 3, 3);
  const EvalOptions options = Options("pdq,pdq+regions", "crop10,jpeg50");
  absl::StatusOr<CorpusCodes> codes = HashCorpus(manifest, options);
  ASSERT_TRUE(codes.ok()) << codes.status();
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(codes->original[1][i].entry.size(), 1u + kNumRegions);
    EXPECT_EQ(codes->original[1][i].entry[0], codes->original[0][i].entry[0]);
    EXPECT_EQ(codes->query[1][0][i]->query, codes->query[0][0][i]->query);
  }
  const AccuracyResult r = ScoreCorpus(*codes, options);
  int plain_sum = 0, regions_sum = 0;
  for (size_t t = 0; t < 2; ++t) {
    const DistanceSet& plain = r.methods[0].transforms[t].distances;
    const DistanceSet& regions = r.methods[1].transforms[t].distances;
    ASSERT_EQ(regions.positives.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_LE(regions.positives[i].own, plain.positives[i].own);
      if (t == 0) {
        plain_sum += plain.positives[i].own;
        regions_sum += regions.positives[i].own;
      }
    }
  }
  EXPECT_LT(regions_sum, plain_sum);
}

}  // namespace
}  // namespace eval
}  // namespace hashmatch

namespace hashmatch {
namespace eval {
namespace {

// --limit takes the same pseudo-random sample every time, whatever the
// manifest's order.
TEST(EvaluationTest, LimitTakesAFixedSample) {
  const std::string dir = FreshDir("eval_limit");
  std::vector<ManifestEntry> manifest = WriteSyntheticCorpus(dir, 5, 2);
  EvalOptions options = Options("dhash", "identity");
  options.limit = 3;
  absl::StatusOr<CorpusCodes> a = HashCorpus(manifest, options);
  std::reverse(manifest.begin(), manifest.end());
  absl::StatusOr<CorpusCodes> b = HashCorpus(manifest, options);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->originals.size(), 3u);
  ASSERT_EQ(b->originals.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a->originals[i].path, b->originals[i].path);
    if (i > 0) {
      EXPECT_LT(a->originals[i - 1].path, a->originals[i].path);
    }
  }
}

}  // namespace
}  // namespace eval
}  // namespace hashmatch

namespace hashmatch {
namespace eval {
namespace {

// A code with bits [from, to) set.
Code Bits(int from, int to) {
  Code c;
  for (int b = from; b < to; ++b) c.w[b / 64] |= uint64_t{1} << (b % 64);
  return c;
}

ImageCodes Codes(Code pdq, Code phash) {
  ImageCodes c;
  c.entry = {pdq};
  c.query = {pdq};
  c.query_ungated = {pdq};
  c.vote = {phash};
  c.quality = 100;
  return c;
}

TEST(EvaluationTest, VoteScoreByHand) {
  const MethodSpec& bonus = **ParseMethodList("pdq&phash")->begin();
  ASSERT_EQ(bonus.bonus, 16);
  ASSERT_EQ(bonus.vote_max, 8);
  EXPECT_EQ(VoteScore(bonus, 20, 5), 4);   // pHash agrees: 16 looser.
  EXPECT_EQ(VoteScore(bonus, 20, 8), 4);   // At the vote's limit.
  EXPECT_EQ(VoteScore(bonus, 20, 9), 20);  // pHash disagrees.
  EXPECT_EQ(VoteScore(bonus, 10, 0), 0);   // Never below 0.
  EXPECT_EQ(VoteScore(bonus, kNoDistance, 0), kNoDistance);  // Gated.
  const MethodSpec& sum = **ParseMethodList("pdq+phash-mean")->begin();
  EXPECT_EQ(VoteScore(sum, 20, 5), 20);  // (20 + 20) / 2.
  EXPECT_EQ(VoteScore(sum, 21, 0), 10);
  EXPECT_EQ(VoteScore(sum, 256, 64), 256);
  const MethodSpec& plain = **ParseMethodList("pdq")->begin();
  EXPECT_EQ(VoteScore(plain, 20, 0), 20);
}

// Two vetted photos A, B and two innocent C, D with hand-made codes: PDQ
// alone reaches 99.99% precision up to T = 35 (C's copy is 36 from A) and
// finds A's copy only; where pHash agrees, B's copy (PDQ 40, pHash 2) comes
// within T* while C's (pHash 30 from A) does not: recall 0.5 -> 1.0 at the
// same precision.
TEST(EvaluationTest, VoteMethodsRaiseRecallOnAConstructedCase) {
  EvalOptions options = Options("pdq,pdq&phash,pdq+phash-mean", "identity");
  options.ungated_methods.clear();
  CorpusCodes codes;
  const Code pdq_orig[4] = {Code(), Bits(0, 100), Bits(100, 180),
                            Bits(180, 256)};
  const Code phash_orig[4] = {Code(), Bits(0, 32), Bits(32, 64), Bits(16, 48)};
  // Queries: PDQ 30 / 40 / 36 / 60 from their nearest vetted original.
  const Code pdq_query[4] = {Bits(200, 230), Bits(0, 140), Bits(150, 186),
                             Bits(190, 250)};
  const Code phash_query[4] = {Bits(0, 3), Bits(0, 30), Bits(0, 30),
                               Bits(0, 2)};
  const char* names[4] = {"A", "B", "C", "D"};
  codes.original.assign(3, {});
  codes.query.assign(3, {std::vector<std::optional<ImageCodes>>()});
  for (int i = 0; i < 4; ++i) {
    OriginalInfo info;
    info.path = names[i];
    info.group = names[i];
    info.package = "-";
    info.vetted = i < 2;
    info.ok = true;
    codes.originals.push_back(info);
    for (int m = 0; m < 3; ++m) {
      codes.original[m].push_back(Codes(pdq_orig[i], phash_orig[i]));
      codes.query[m][0].push_back(Codes(pdq_query[i], phash_query[i]));
    }
  }
  const AccuracyResult r = ScoreCorpus(codes, options);
  ASSERT_EQ(r.methods.size(), 3u);
  const MethodScore& pdq = r.methods[0];
  const MethodScore& bonus = r.methods[1];
  const MethodScore& sum = r.methods[2];
  // Own distances of A's and B's copies, nearest-vetted of C's and D's.
  EXPECT_EQ(pdq.all.distances.positives[0].own, 30);
  EXPECT_EQ(pdq.all.distances.positives[1].own, 40);
  EXPECT_EQ(pdq.all.distances.negatives, (std::vector<int>{36, 60}));
  EXPECT_EQ(bonus.all.distances.positives[0].own, 14);  // 30 - 16.
  EXPECT_EQ(bonus.all.distances.positives[1].own, 24);  // 40 - 16.
  EXPECT_EQ(bonus.all.distances.negatives, (std::vector<int>{36, 44}));
  EXPECT_EQ(sum.all.distances.positives[0].own, 21);  // (30 + 4 * 3) / 2.
  EXPECT_EQ(sum.all.distances.positives[1].own, 24);  // (40 + 4 * 2) / 2.
  // C: (36 + 120) / 2 from A, (136 + 8) / 2 from B; D: (60 + 8) / 2.
  EXPECT_EQ(sum.all.distances.negatives, (std::vector<int>{72, 34}));
  // 6 pairs, none within 60 by either score.
  ASSERT_EQ(pdq.all.distances.pairs.size(), 6u);
  EXPECT_EQ(*std::min_element(pdq.all.distances.pairs.begin(),
                              pdq.all.distances.pairs.end()),
            76);
  EXPECT_EQ(bonus.all.distances.pairs, pdq.all.distances.pairs);
  // T* and recall at it.
  EXPECT_EQ(pdq.all.at_target.threshold, 35);
  EXPECT_DOUBLE_EQ(pdq.all.at_target.recall, 0.5);
  EXPECT_EQ(bonus.all.at_target.threshold, 35);
  EXPECT_DOUBLE_EQ(bonus.all.at_target.recall, 1.0);
  EXPECT_EQ(sum.all.at_target.threshold, 33);
  EXPECT_DOUBLE_EQ(sum.all.at_target.recall, 1.0);
  // At 31 the bonus finds both with no false positive; PDQ one.
  EXPECT_DOUBLE_EQ(bonus.all.at_default.recall, 1.0);
  EXPECT_DOUBLE_EQ(bonus.all.at_default.precision, 1.0);
  EXPECT_DOUBLE_EQ(pdq.all.at_default.recall, 0.5);
  // The score is the set of conditions it stands for: at every T, a copy
  // scored <= T by the bonus is exactly one with PDQ <= T, or PDQ <= T + 16
  // and pHash <= 8.
  const int pdq_d[4] = {30, 40, 36, 60};
  const int phash_d[4] = {3, 2, 30, 2};
  const int score[4] = {14, 24, 36, 44};
  for (int t = 0; t <= 256; ++t) {
    for (int i = 0; i < 4; ++i) {
      const bool rule =
          pdq_d[i] <= t || (pdq_d[i] <= t + 16 && phash_d[i] <= 8);
      EXPECT_EQ(score[i] <= t, rule) << "T=" << t << " query " << i;
    }
  }
}

}  // namespace
}  // namespace eval
}  // namespace hashmatch
