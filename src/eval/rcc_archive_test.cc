#include "src/eval/rcc_archive.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/common/file_util.h"
#include "src/eval/rcc_test_util.h"

namespace hashmatch {
namespace eval {
namespace {

using testing_util::BuildRcc;
using testing_util::InFile;

std::string Pattern(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    // Compressible but not constant.
    s[i] = static_cast<char>("abcdefgh"[rng() % 8]);
  }
  return s;
}

std::vector<InFile> SampleFiles() {
  return {
      {"/top.txt", "plain bytes at the root", RccCompression::kNone},
      {"/a/b/deep.bin", Pattern(5000, 1), RccCompression::kZlib},
      {"/a/b/zst.bin", Pattern(7000, 2), RccCompression::kZstd},
      {"/a/mid.txt", "", RccCompression::kNone},
      {"/a/c/photo.jpg", Pattern(300, 3), RccCompression::kZlib},
  };
}

TEST(RccArchiveTest, ListsAndExtractsExactBytesInEveryVersion) {
  for (int version : {1, 2, 3}) {
    SCOPED_TRACE(version);
    std::vector<InFile> in = SampleFiles();
    if (version < 3) {
      // zstd came with format 3.
      in.erase(std::remove_if(in.begin(), in.end(),
                              [](const InFile& f) {
                                return f.compression == RccCompression::kZstd;
                              }),
               in.end());
    }
    absl::StatusOr<RccArchive> a = RccArchive::Open(BuildRcc(version, in));
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->version(), version);
    std::vector<std::string> want_paths;
    for (const InFile& f : in) want_paths.push_back(f.path);
    std::sort(want_paths.begin(), want_paths.end());
    std::vector<std::string> got_paths;
    for (const RccFile& f : a->files()) got_paths.push_back(f.path);
    EXPECT_EQ(got_paths, want_paths);
    for (const InFile& f : in) {
      absl::StatusOr<std::string> bytes = a->Extract(f.path);
      ASSERT_TRUE(bytes.ok()) << f.path << ": " << bytes.status();
      EXPECT_EQ(*bytes, f.bytes) << f.path;
    }
    for (const RccFile& f : a->files()) {
      EXPECT_EQ(f.last_modified_ms, version >= 2 ? 1234567u : 0u);
      EXPECT_EQ(f.language, 1);
    }
    EXPECT_EQ(a->Extract("/a/b").status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(a->Extract("/missing.jpg").status().code(),
              absl::StatusCode::kNotFound);
  }
}

TEST(RccArchiveTest, CompressionFlagsAreReported) {
  absl::StatusOr<RccArchive> a = RccArchive::Open(BuildRcc(3, SampleFiles()));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->overall_flags(), 5u);
  std::map<std::string, RccCompression> got;
  for (const RccFile& f : a->files()) got[f.path] = f.compression;
  EXPECT_EQ(got["/a/b/deep.bin"], RccCompression::kZlib);
  EXPECT_EQ(got["/a/b/zst.bin"], RccCompression::kZstd);
  EXPECT_EQ(got["/top.txt"], RccCompression::kNone);
}

TEST(RccArchiveTest, NameHashIsQtHash) {
  // qt_hash("a") = 0x61; "ab" = 0x61 << 4 + 0x62 = 0x672.
  EXPECT_EQ(RccNameHash(u"a"), 0x61u);
  EXPECT_EQ(RccNameHash(u"ab"), 0x672u);
  // Long names fold the top nibble back in: the result stays below 2^28.
  EXPECT_LT(RccNameHash(u"a_rather_long_file_name.jpeg"), 1u << 28);
}

TEST(RccArchiveTest, NotAnArchive) {
  EXPECT_EQ(RccArchive::Open("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      RccArchive::Open("PK\x03\x04 not a qres file at all").status().code(),
      absl::StatusCode::kInvalidArgument);
  std::string v4 = BuildRcc(3, SampleFiles());
  v4[7] = 4;
  absl::Status s = RccArchive::Open(v4).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "rcc: unsupported rcc format version 4");
}

TEST(RccArchiveTest, LimitsAreResourceExhausted) {
  const std::string rcc = BuildRcc(3, SampleFiles());
  RccOptions o;
  o.max_archive_bytes = static_cast<int64_t>(rcc.size()) - 1;
  EXPECT_EQ(RccArchive::Open(rcc, o).status().code(),
            absl::StatusCode::kResourceExhausted);
  o = RccOptions();
  o.max_nodes = 5;  // The tree has 9 nodes.
  EXPECT_EQ(RccArchive::Open(rcc, o).status().code(),
            absl::StatusCode::kResourceExhausted);
  o = RccOptions();
  o.max_depth = 1;  // /a/b/deep.bin is two levels down.
  absl::Status depth = RccArchive::Open(rcc, o).status();
  EXPECT_EQ(depth.code(), absl::StatusCode::kResourceExhausted) << depth;
  EXPECT_NE(depth.message().find("max_depth"), absl::string_view::npos);
  o = RccOptions();
  o.max_file_bytes = 6000;  // zst.bin inflates to 7000.
  absl::StatusOr<RccArchive> a = RccArchive::Open(rcc, o);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->Extract("/a/b/deep.bin").ok());
  EXPECT_EQ(a->Extract("/a/b/zst.bin").status().code(),
            absl::StatusCode::kResourceExhausted);
  o = RccOptions();
  o.max_total_bytes = 8000;
  a = RccArchive::Open(rcc, o);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->Extract("/a/b/deep.bin").ok());
  EXPECT_EQ(a->extracted_bytes(), 5000);
  EXPECT_EQ(a->Extract("/a/b/zst.bin").status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(a->Extract("/a/c/photo.jpg").ok());  // 300 more still fit.
}

// Offsets of the tree's parts in BuildRcc's layout.
uint32_t TreeOffset(const std::string& rcc) {
  const auto* p = reinterpret_cast<const unsigned char*>(rcc.data());
  return (uint32_t{p[8]} << 24) | (uint32_t{p[9]} << 16) |
         (uint32_t{p[10]} << 8) | p[11];
}

TEST(RccArchiveTest, SpecificDamageGivesSpecificErrors) {
  const std::string rcc = BuildRcc(2, {{"/x/y.txt", "hello"}});
  const uint32_t tree = TreeOffset(rcc);
  // Nodes: 0 root, 1 x, 2 y.txt; 22 bytes each.
  {
    std::string bad = rcc;
    bad[tree + 22 + 13] = 0;  // x's first child -> node 0 (the root).
    absl::Status s = RccArchive::Open(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(s.message().find("reached twice"), absl::string_view::npos) << s;
  }
  {
    std::string bad = rcc;
    bad[tree + 4 + 1] = 0;  // Root loses its Directory flag.
    absl::Status s = RccArchive::Open(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(s.message(), "rcc: the root node is not a directory");
  }
  {
    std::string bad = rcc;
    bad[tree + 44 + 4 + 1] = 8;  // y.txt: unknown flag 0x08.
    absl::Status s = RccArchive::Open(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(s.message(), "rcc: node 2 has unknown flags 0x8");
  }
  {
    std::string bad = rcc;
    // y.txt's name: "y" -> "z" (the stored hash no longer fits).
    const size_t at = bad.find(std::string("\0y\0.", 4));
    ASSERT_NE(at, std::string::npos);
    bad[at + 1] = 'z';
    absl::Status s = RccArchive::Open(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(s.message().find("has hash"), absl::string_view::npos) << s;
    RccOptions o;
    o.check_name_hashes = false;
    absl::StatusOr<RccArchive> a = RccArchive::Open(bad, o);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->files()[0].path, "/x/z.txt");
  }
  {
    std::string bad = rcc;
    bad[20 + 3] = 100;  // y.txt's stored length 5 -> 100.
    absl::Status s = RccArchive::Open(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(s.message(),
              "rcc: /x/y.txt: 100 stored bytes run past the end of the file");
  }
  {
    std::string zrcc =
        BuildRcc(1, {{"/z.bin", Pattern(1000, 4), RccCompression::kZlib}});
    zrcc[20 + 4 + 2] = 0x04;  // Declared length 1000 (0x3E8) -> 1256.
    absl::StatusOr<RccArchive> a = RccArchive::Open(zrcc);
    ASSERT_TRUE(a.ok()) << a.status();
    absl::Status s = a->Extract("/z.bin").status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(s.message(),
              "rcc: /z.bin: zlib data inflates to 1000 bytes, declared 1256");
  }
}

// Every truncation and, for every byte, a flip of one of its bits: Open and
// Extract end with OK or a documented code, never a crash (run under ASan in
// CI).
TEST(RccArchiveTest, TruncationsAndBitFlipsNeverCrash) {
  std::vector<InFile> in = SampleFiles();
  for (InFile& f : in) f.bytes = f.bytes.substr(0, 200);
  for (int version : {1, 3}) {
    const std::string rcc = BuildRcc(version, in);
    auto exercise = [&](const std::string& bytes, int* opened) {
      absl::StatusOr<RccArchive> a = RccArchive::Open(bytes);
      if (!a.ok()) {
        const absl::StatusCode c = a.status().code();
        EXPECT_TRUE(c == absl::StatusCode::kDataLoss ||
                    c == absl::StatusCode::kInvalidArgument ||
                    c == absl::StatusCode::kResourceExhausted)
            << a.status();
        return;
      }
      ++*opened;
      for (const RccFile& f : a->files()) {
        absl::StatusOr<std::string> x = a->Extract(f);
        if (!x.ok()) {
          const absl::StatusCode c = x.status().code();
          EXPECT_TRUE(c == absl::StatusCode::kDataLoss ||
                      c == absl::StatusCode::kResourceExhausted)
              << x.status();
        }
      }
    };
    int opened = 0;
    for (size_t n = 0; n < rcc.size(); ++n) {
      exercise(rcc.substr(0, n), &opened);
    }
    // The tree is at the end: no proper prefix opens.
    EXPECT_EQ(opened, 0);
    std::mt19937 rng(version);
    opened = 0;
    for (size_t i = 0; i < rcc.size(); ++i) {
      std::string bad = rcc;
      bad[i] = static_cast<char>(bad[i] ^ (1 << (rng() % 8)));
      exercise(bad, &opened);
    }
    // Flips in data, modification times or locale leave the tree valid.
    EXPECT_GT(opened, 0);
  }
}

constexpr char kGcomprisRcc[] = "/usr/share/gcompris-qt/rcc";

TEST(RccArchiveTest, RealGcomprisArchives) {
  std::error_code ec;
  if (!std::filesystem::is_directory(kGcomprisRcc, ec)) {
    GTEST_SKIP() << kGcomprisRcc
                 << " is absent (apt-get install gcompris-qt-data)";
  }
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::directory_iterator(kGcomprisRcc, ec)) {
    if (e.path().extension() == ".rcc") paths.push_back(e.path().string());
  }
  std::sort(paths.begin(), paths.end());
  ASSERT_FALSE(paths.empty());
  int64_t files = 0;
  int64_t photos = 0;
  int64_t extracted = 0;
  for (const std::string& p : paths) {
    absl::StatusOr<std::string> bytes = ReadFileToString(p, 256 << 20);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    absl::StatusOr<RccArchive> a = RccArchive::Open(*std::move(bytes));
    ASSERT_TRUE(a.ok()) << p << ": " << a.status();
    files += static_cast<int64_t>(a->files().size());
    for (const RccFile& f : a->files()) {
      const bool webp = f.path.size() > 5 &&
                        f.path.compare(f.path.size() - 5, 5, ".webp") == 0;
      if (!webp) continue;
      ++photos;
      if (p.find("/explore_monuments.rcc") == std::string::npos) continue;
      // Extract every photo of one archive: each is a whole WebP file, whose
      // RIFF length covers exactly the extracted bytes.
      absl::StatusOr<std::string> x = a->Extract(f);
      ASSERT_TRUE(x.ok()) << f.path << ": " << x.status();
      ASSERT_GT(x->size(), 12u);
      EXPECT_EQ(x->substr(0, 4), "RIFF") << f.path;
      EXPECT_EQ(x->substr(8, 4), "WEBP") << f.path;
      const auto* b = reinterpret_cast<const unsigned char*>(x->data());
      const uint32_t riff =
          b[4] | (b[5] << 8) | (b[6] << 16) | (uint32_t{b[7]} << 24);
      EXPECT_EQ(riff + 8, x->size()) << f.path;
      ++extracted;
    }
  }
  // gcompris-qt-data 3.1 (Debian 12): 186 archives, 4861 files, 874 WebP.
  EXPECT_GT(files, 1000);
  EXPECT_GT(photos, 300);
  EXPECT_GT(extracted, 40);
}

}  // namespace
}  // namespace eval
}  // namespace hashmatch
