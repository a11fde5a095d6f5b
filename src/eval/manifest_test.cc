#include "src/eval/manifest.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "src/eval/test_corpus.h"

namespace hashmatch {
namespace eval {
namespace {

using testing_util::FreshDir;
using testing_util::WriteSyntheticCorpus;

TEST(ManifestTest, FormatParseRoundTrip) {
  std::vector<ManifestEntry> in = {
      {"0123456789abcdef0123456789abcdef", 42, "g", "-", "/a/b c.png"},
      {"ffffffffffffffffffffffffffffffff", 7, "wallpapers/X",
       "plasma-workspace-wallpapers", "/usr/share/wallpapers/X/a.jpg"}};
  const std::string text = FormatManifest(in);
  EXPECT_EQ(text.substr(0, text.find('\n')), kManifestHeader);
  absl::StatusOr<std::vector<ManifestEntry>> out = ParseManifest(text, {});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].path, "/a/b c.png");
  EXPECT_EQ((*out)[0].size, 42);
  EXPECT_EQ((*out)[1].group, "wallpapers/X");
  EXPECT_EQ((*out)[1].package, "plasma-workspace-wallpapers");
}

TEST(ManifestTest, ParseErrorsNameTheLine) {
  const std::string h = std::string(kManifestHeader) + "\n";
  struct Case {
    std::string text;
    std::string message;
  } cases[] = {
      {"x\n", "line 1: expected the header"},
      {h + "abc\t1\tg\t-\t/p\n", "line 2: md5"},
      {h + "0123456789abcdef0123456789abcdef\tx\tg\t-\t/p\n", "bad size"},
      {h + "0123456789abcdef0123456789abcdef\t1\tg\t-\n", "5 tab-separated"},
      {h + "0123456789abcdef0123456789abcdef\t1\t\t-\t/p\n", "empty group"},
      {h + "0123456789abcdef0123456789abcdef\t1\tg\t-\trel\n", "absolute"},
      {h + "0123456789abcdef0123456789abcdef\t1\tg\t-\t/p\n" +
           "0123456789abcdef0123456789abcdef\t1\tg\t-\t/p\n",
       "line 3: duplicate path"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<ManifestEntry>> r = ParseManifest(c.text, {});
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.message), std::string::npos)
        << r.status();
  }
  ManifestOptions small;
  small.max_entries = 1;
  absl::StatusOr<std::vector<ManifestEntry>> r =
      ParseManifest(h + "0123456789abcdef0123456789abcdef\t1\tg\t-\t/p\n" +
                        "0123456789abcdef0123456789abcdef\t1\tg\t-\t/q\n",
                    small);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(ManifestTest, ReadVerifiedChecksMd5AndSize) {
  const std::string dir = FreshDir("manifest_verify");
  std::vector<ManifestEntry> entries = WriteSyntheticCorpus(dir, 2, 1);
  absl::StatusOr<std::string> ok = ReadVerified(entries[0]);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(static_cast<int64_t>(ok->size()), entries[0].size);

  ManifestEntry bad = entries[0];
  bad.md5 = "00000000000000000000000000000000";
  absl::StatusOr<std::string> r = ReadVerified(bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("md5 mismatch: manifest 0000"),
            std::string::npos)
      << r.status();
  EXPECT_NE(r.status().message().find(entries[0].md5), std::string::npos);

  bad = entries[0];
  bad.size -= 1;
  r = ReadVerified(bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("size mismatch"), std::string::npos);

  bad = entries[0];
  bad.path = "/usr/share/stellarium/nebulae/default/no-such-file.png";
  bad.package = PackageForPath(bad.path);
  r = ReadVerified(bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("apt-get install stellarium-data"),
            std::string::npos)
      << r.status();
}

TEST(ManifestTest, BuildDedupsByMd5SkipsSmallAndSorts) {
  const std::string dir = FreshDir("manifest_build");
  std::vector<ManifestEntry> written = WriteSyntheticCorpus(dir, 3, 1);
  // An exact copy (same md5) and a tiny image.
  std::filesystem::copy_file(written[0].path, dir + "/zz-copy.png");
  cv::imwrite(dir + "/small.png", testing_util::SyntheticPhoto(5, 100, 60));
  absl::StatusOr<std::vector<ManifestEntry>> built = BuildManifest({dir}, {});
  ASSERT_TRUE(built.ok()) << built.status();
  ASSERT_EQ(built->size(), 3u);
  for (size_t i = 0; i + 1 < built->size(); ++i) {
    EXPECT_LT((*built)[i].path, (*built)[i + 1].path);
  }
  for (const ManifestEntry& e : *built) {
    EXPECT_EQ(e.group, e.path);
    EXPECT_EQ(e.package, "-");
    EXPECT_TRUE(ReadVerified(e).ok());
  }
  // Written to a file and read back: the same entries.
  const std::string file = dir + "/manifest.tsv";
  ASSERT_TRUE(WriteManifestFile(*built, file).ok());
  absl::StatusOr<std::vector<ManifestEntry>> back = ReadManifestFile(file, {});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(FormatManifest(*back), FormatManifest(*built));
}

TEST(ManifestTest, MissingCorpusDirectoryNamesThePackage) {
  absl::StatusOr<std::vector<ManifestEntry>> r =
      BuildManifest({"/usr/share/wallpapers/no-such-wallpaper"}, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(
      r.status().message().find("apt-get install plasma-workspace-wallpapers"),
      std::string::npos)
      << r.status();
}

TEST(ManifestTest, GroupsAndPackages) {
  EXPECT_EQ(GroupForPath("/usr/share/wallpapers/Altai/contents/images/"
                         "1080x1920.png"),
            "wallpapers/Altai");
  EXPECT_EQ(GroupForPath("/usr/share/wallpapers/Altai/contents/images_dark/"
                         "5120x2880.png"),
            "wallpapers/Altai");
  EXPECT_EQ(GroupForPath("/usr/share/backgrounds/gnome/wood-l.webp"),
            "/usr/share/backgrounds/gnome/wood");
  EXPECT_EQ(GroupForPath("/usr/share/backgrounds/gnome/wood-d.webp"),
            "/usr/share/backgrounds/gnome/wood");
  EXPECT_EQ(GroupForPath("/usr/share/backgrounds/mate/nature/Storm.jpg"),
            "/usr/share/backgrounds/mate/nature/Storm.jpg");
  EXPECT_EQ(GroupForPath("/usr/share/backgrounds/mate/abstract/"
                         "Elephants_3840x2160.jpg"),
            "/usr/share/backgrounds/mate/abstract/Elephants.jpg");
  EXPECT_EQ(GroupForPath("/x/a_b.jpg"), "/x/a_b.jpg");
  EXPECT_EQ(
      GroupForPath("/usr/share/doc/opencv-doc/examples/data/rubberwhale2.png"),
      "opencv-doc/rubberwhale");
  EXPECT_EQ(GroupForPath("/usr/lib/python3/dist-packages/skimage/data/"
                         "chessboard_GRAY_U16B.tif"),
            "skimage/chessboard");
  EXPECT_EQ(GroupForPath("/x_1x2/a.jpg"), "/x_1x2/a.jpg");
  EXPECT_EQ(PackageForPath("/usr/share/backgrounds/mate/nature/Storm.jpg"),
            "mate-backgrounds");
  EXPECT_EQ(PackageForPath("/usr/share/tuxpaint/templates/x.jpg"),
            "tuxpaint-data");
  EXPECT_EQ(PackageForPath("/usr/share/tuxpaint/stamps/x.png"),
            "tuxpaint-stamps-default");
  EXPECT_EQ(PackageForPath("/usr/share/wallpapersX/a.png"), "-");
}

}  // namespace
}  // namespace eval
}  // namespace hashmatch
