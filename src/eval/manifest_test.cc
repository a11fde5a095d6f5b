#include "src/eval/manifest.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "src/eval/rcc_test_util.h"
#include "src/eval/test_corpus.h"
#include "src/hashing/crypto_hash.h"

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
  EXPECT_EQ(PackageForPath("/usr/share/gcompris-qt/rcc/erase.rcc:/gcompris/"
                           "src/activities/erase/resource/swans.webp"),
            "gcompris-qt-data");
  std::string archive, inner;
  ASSERT_TRUE(ArchiveMember("/d/erase.rcc:/a/b.webp", &archive, &inner));
  EXPECT_EQ(archive, "/d/erase.rcc");
  EXPECT_EQ(inner, "/a/b.webp");
  EXPECT_FALSE(ArchiveMember("/d/erase.rcc", &archive, &inner));
  EXPECT_FALSE(ArchiveMember("/d/x.png", &archive, &inner));
}

std::string Encode(const char* ext, const cv::Mat& m) {
  std::vector<uchar> buf;
  EXPECT_TRUE(cv::imencode(ext, m, buf));
  return std::string(buf.begin(), buf.end());
}

// A Qt resource archive holding photos, a smaller copy of one, a cut-out,
// an icon and a non-image, beside plain files: archive members become corpus
// items "ARCHIVE.rcc:/INNER" whose MD5 is that of the extracted bytes.
TEST(ManifestTest, ArchiveMembersAreCorpusItems) {
  using testing_util::SyntheticPhoto;
  const std::string dir = FreshDir("manifest_rcc");
  const cv::Mat photo1 = SyntheticPhoto(11, 240, 180);
  cv::Mat smaller;
  cv::resize(photo1, smaller, cv::Size(200, 150), 0, 0, cv::INTER_AREA);
  cv::Mat cutout;
  cv::cvtColor(SyntheticPhoto(13, 240, 180), cutout, cv::COLOR_BGR2BGRA);
  cv::circle(cutout, cv::Point(0, 0), 40, cv::Scalar(0, 0, 0, 0), cv::FILLED);
  const std::string one = Encode(".png", photo1);
  const std::string two = Encode(".jpg", SyntheticPhoto(12, 240, 180));
  const std::vector<testing_util::InFile> members = {
      {"/img/one.png", one, RccCompression::kZlib},
      {"/img/zz_smaller.png", Encode(".png", smaller), RccCompression::kNone},
      {"/img/sub/two.jpg", two, RccCompression::kZstd},
      {"/img/cutout.png", Encode(".png", cutout), RccCompression::kNone},
      {"/img/icon.png", Encode(".png", SyntheticPhoto(14, 64, 48)),
       RccCompression::kNone},
      {"/qml/main.qml", "import QtQuick 2.12", RccCompression::kZlib},
  };
  const std::string rcc_path = dir + "/act.rcc";
  {
    std::ofstream f(rcc_path, std::ios::binary);
    f << testing_util::BuildRcc(3, members);
  }
  // A plain file keeps its alpha (plain directories were chosen for photos).
  cv::imwrite(dir + "/plain_alpha.png", cutout);

  absl::StatusOr<std::vector<ManifestEntry>> built = BuildManifest({dir}, {});
  ASSERT_TRUE(built.ok()) << built.status();
  std::vector<std::string> paths;
  for (const ManifestEntry& e : *built) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{rcc_path + ":/img/one.png",
                                             rcc_path + ":/img/sub/two.jpg",
                                             dir + "/plain_alpha.png"}));
  ASSERT_EQ(built->size(), 3u);
  const ManifestEntry e1 = (*built)[0];
  EXPECT_EQ(e1.md5, Md5Hex(one));
  EXPECT_EQ(e1.size, static_cast<int64_t>(one.size()));
  // The smaller copy joined one.png's group (PDQ within 31), which kept the
  // larger file.
  EXPECT_EQ(e1.group, rcc_path + ":/img/one.png");
  absl::StatusOr<std::string> back = ReadVerified(e1);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, one);
  back = ReadVerified((*built)[1]);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, two);

  // Without the near-duplicate rule the smaller copy is a picture of its own;
  // without the alpha rule the cut-out is kept.
  ManifestOptions loose;
  loose.near_duplicate_distance = -1;
  loose.skip_transparent_members = false;
  built = BuildManifest({rcc_path}, loose);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_EQ(built->size(), 4u);

  ManifestEntry bad = e1;
  bad.md5 = "00000000000000000000000000000000";
  absl::Status s = ReadVerified(bad).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("md5 mismatch"), std::string::npos) << s;
  bad = e1;
  bad.path = rcc_path + ":/img/gone.png";
  s = ReadVerified(bad).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), rcc_path + " has no file /img/gone.png");
  bad.path = "/usr/share/gcompris-qt/rcc/no-such-activity.rcc:/gcompris/x.webp";
  s = ReadVerified(bad).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("apt-get install gcompris-qt-data"),
            std::string::npos)
      << s;
  EXPECT_EQ(BuildManifest({"/usr/share/gcompris-qt/rcc/no-such.rcc"}, {})
                .status()
                .code(),
            absl::StatusCode::kNotFound);

  // A damaged archive stops the build, naming it.
  {
    std::ofstream f(rcc_path, std::ios::binary | std::ios::trunc);
    f << testing_util::BuildRcc(3, members).substr(0, 200);
  }
  s = BuildManifest({dir}, {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_EQ(s.message().substr(0, rcc_path.size()), rcc_path);
}

}  // namespace
}  // namespace eval
}  // namespace hashmatch
